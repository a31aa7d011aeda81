// createApp(): the one place that assembles middleware, error handling, routes and the
// OpenAPI document, so the Worker and the tests run exactly the same app.
import { OpenAPIHono } from "@hono/zod-openapi";
import { Scalar } from "@scalar/hono-api-reference";
import { HTTPException } from "hono/http-exception";
import { requestId } from "hono/request-id";
import { type AppDeps, type AppEnv, systemClock } from "./app-env";
import { auditRoutes } from "./audit/routes";
import { callReadRoutes } from "./calls/read-routes";
import { callRoutes } from "./calls/routes";
import { campaignRoutes } from "./campaigns/routes";
import { consoleRoutes } from "./console/routes";
import { doNotCallRoutes } from "./do-not-call/routes";
import { elevenLabsClientFromConfig } from "./elevenlabs/from-config";
import { postCallRoutes } from "./elevenlabs/post-call-routes";
import { ConfigurationError, readConfig } from "./env";
import { eventRoutes } from "./events/routes";
import { healthRoutes } from "./health/routes";
import { jsonBodyOnly } from "./http/body";
import { AppError, renderError } from "./http/errors";
import { createLogger, describeError } from "./http/log";
import { validationHook } from "./http/validation";
import { retentionRoutes } from "./retention/routes";
import { transcriptionRoutes } from "./transcriptions/routes";

/** The real clock and ElevenLabs client, unless a test passes others. */
export function withDefaultDeps(overrides: Partial<AppDeps> = {}): AppDeps {
  return { clock: systemClock, elevenLabs: elevenLabsClientFromConfig, ...overrides };
}

export function createApp(overrides: Partial<AppDeps> = {}) {
  const deps = withDefaultDeps(overrides);
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

  app.use(requestId());
  app.use(async (c, next) => {
    const startedAt = Date.now();
    const log = createLogger({ request_id: c.get("requestId") });
    c.set("log", log);
    c.set("deps", deps);
    await next();
    log.info("request", {
      method: c.req.method,
      route: c.req.routePath,
      status: c.res.status,
      duration_ms: Date.now() - startedAt,
      ...(c.get("callSid") ? { call_sid: c.get("callSid") } : {}),
    });
  });
  app.use(async (c, next) => {
    c.set("config", readConfig(c.env ?? {}));
    await next();
  });
  app.on(["POST", "PUT", "PATCH"], "*", jsonBodyOnly);

  app.route("/", healthRoutes);
  app.route("/", transcriptionRoutes);
  app.route("/", callRoutes);
  app.route("/", callReadRoutes);
  app.route("/", postCallRoutes);
  app.route("/", campaignRoutes);
  app.route("/", doNotCallRoutes);
  app.route("/", auditRoutes);
  app.route("/", eventRoutes);
  app.route("/", retentionRoutes);
  // The operator console: HTML pages for people, plain Hono routes, so not in the OpenAPI
  // document below.
  app.route("/console", consoleRoutes);

  // Every route says which of these it needs (`security`), or `security: []` for none:
  // `npm run lint:api` (redocly's security-defined) fails on a route that says nothing.
  app.openAPIRegistry.registerComponent("securitySchemes", "bearerAuth", {
    type: "http",
    scheme: "bearer",
    description:
      "The machines' API_TOKEN (recorded in the audit trail as `api_token`), or an operator's own token (`dco_...`, from `npm run operator -- add`; recorded under that operator). A revoked operator's token is refused.",
  });
  app.openAPIRegistry.registerComponent("securitySchemes", "elevenLabsSignature", {
    type: "apiKey",
    in: "header",
    name: "ElevenLabs-Signature",
    description:
      "ElevenLabs' webhook signature, `t=<unix seconds>,v0=<hex HMAC-SHA256 of {t}.{raw body}>` keyed with the shared webhook secret (ELEVENLABS_WEBHOOK_SECRET); older than 30 minutes is refused.",
  });
  app.doc31("/openapi.json", {
    openapi: "3.1.0",
    info: {
      title: "driver-calls",
      version: "1.0.0",
      description:
        "Places ElevenLabs voice calls to truck drivers about safety violations, stores their transcripts keyed by our call_sid, and completes calls from ElevenLabs' post-call webhook.",
    },
    // Relative: the API is the origin that serves this document (staging, production or
    // `npm run dev`), so a client generated from it takes its base URL from where it is
    // deployed instead of from a hostname written here.
    servers: [
      {
        url: "/",
        description: "The origin serving this document (`npm run dev`: http://127.0.0.1:8787)",
      },
    ],
  });
  app.get("/docs", Scalar({ url: "/openapi.json", pageTitle: "driver-calls API" }));

  app.notFound((c) =>
    renderError(c, new AppError("not_found", `No route for ${c.req.method} ${c.req.path}.`)),
  );
  app.onError((error, c) => {
    if (error instanceof AppError) {
      if (error.status >= 500)
        c.get("log")?.error("request_failed", describeError(error.cause ?? error));
      return renderError(c, error);
    }
    if (error instanceof HTTPException && error.status < 500) {
      // Hono's own 4xx (for example a JSON body its validator could not parse).
      const code =
        error.status === 400
          ? "invalid_json"
          : error.status === 415
            ? "unsupported_media_type"
            : "invalid_request";
      return renderError(c, new AppError(code, error.message, { status: error.status }));
    }
    if (error instanceof ConfigurationError) {
      c.get("log")?.error("configuration_error", { reason: error.message });
      return renderError(
        c,
        new AppError("configuration_error", "The service is not configured correctly."),
      );
    }
    c.get("log")?.error("unhandled_error", describeError(error));
    return renderError(c, new AppError("internal_error", "Something went wrong on our side."));
  });
  return app;
}

export type App = ReturnType<typeof createApp>;
