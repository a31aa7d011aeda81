// A page that only says something: not found, a refused request, an error on our side.
import { html } from "hono/html";
import { type Html, layout, pageTitle, type Section } from "./layout";
import { linkLine } from "./parts";

export function messagePage(props: {
  title: string;
  message: string;
  section: Section | "none" | null;
  link?: { href: string; text: string };
}): Html {
  return layout({
    title: pageTitle(props.title),
    section: props.section,
    body: html`<h1>${props.title}</h1>
      <p>${props.message}</p>
      ${linkLine(props.link)}`,
  });
}
