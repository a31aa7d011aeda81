// `npm run operator -- add "Ana Ruiz" [--email ana@fleet.example]`: prints the new
// operator's token, once (only its SHA-256 is stored).
// `npm run operator -- list`: every operator, revoked ones included.
// `npm run operator -- revoke <id or email>`: the token stops working and the operator's
// console sessions end at once.
// DATABASE_URL comes from the environment, else from .dev.vars: the same command manages
// a production database (Neon's direct URL) and the local one.
import { parseArgs } from "node:util";
import { databaseUrlFromEnv, redactUrl } from "./lib/migrations.ts";
import { addOperator, listOperators, revokeOperator } from "./lib/operators.ts";

const USAGE = `Usage:
  npm run operator -- add "<name>" [--email <email>]
  npm run operator -- list
  npm run operator -- revoke <operator id or email>
DATABASE_URL comes from the environment, else from .dev.vars.`;

function fail(message: string): never {
  console.error(message);
  process.exit(1);
}

const { positionals, values } = (() => {
  try {
    return parseArgs({
      allowPositionals: true,
      options: { email: { type: "string" }, help: { type: "boolean", short: "h" } },
    });
  } catch (error) {
    return fail(`${(error as Error).message}\n\n${USAGE}`);
  }
})();
const [command, ...rest] = positionals;
if (values.help || !command) fail(USAGE);

const databaseUrl =
  databaseUrlFromEnv() ?? fail(`DATABASE_URL is not set and .dev.vars has none.\n\n${USAGE}`);

try {
  if (command === "add") {
    const name = rest.join(" ").trim();
    if (name === "" || name.length > 200)
      fail(`add needs a name of 1 to 200 characters.\n\n${USAGE}`);
    if (values.email !== undefined && !/^[^\s@]+@[^\s@]+$/.test(values.email)) {
      fail(`--email must be an email address, not "${values.email}".`);
    }
    const { operator, token } = await addOperator(databaseUrl, { name, email: values.email });
    console.log(
      `Added ${operator.name}${operator.email ? ` <${operator.email}>` : ""} (id ${operator.id}) to ${redactUrl(databaseUrl)}.`,
    );
    console.log("");
    console.log(`  Token: ${token}`);
    console.log("");
    console.log("Give it to them privately. It is shown only now: only its SHA-256 is stored.");
    console.log(
      "They sign in to the console with it, or send it as `Authorization: Bearer <token>`.",
    );
  } else if (command === "list") {
    const operators = await listOperators(databaseUrl);
    if (operators.length === 0)
      console.log('No operators yet. Add one: npm run operator -- add "<name>"');
    for (const operator of operators) {
      const state = operator.revoked_at ? `revoked ${operator.revoked_at}` : "active";
      const how = operator.has_token ? "token" : "Cloudflare Access";
      console.log(
        `${operator.id}  ${operator.name}${operator.email ? ` <${operator.email}>` : ""}  (${how}, added ${operator.created_at}, ${state})`,
      );
    }
  } else if (command === "revoke") {
    const who = rest[0];
    if (!who || rest.length > 1) fail(`revoke needs one operator id or email.\n\n${USAGE}`);
    const result = await revokeOperator(databaseUrl, who);
    if (!result) fail(`No operator has the id or email "${who}". See: npm run operator -- list`);
    console.log(
      result.alreadyRevoked
        ? `${result.operator.name} was already revoked (${result.operator.revoked_at}).`
        : `Revoked ${result.operator.name}: their token no longer works, and ${result.sessionsEnded} open console session(s) ended.`,
    );
  } else {
    fail(`Unknown command "${command}".\n\n${USAGE}`);
  }
} catch (error) {
  const message = error as { constraint?: string; message?: string };
  if (message.constraint === "uq_operators_email")
    fail(`An operator with the email ${values.email} exists already.`);
  fail(`The operator command failed: ${message.message ?? String(error)}`);
}
