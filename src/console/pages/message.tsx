// A page that only says something: not found, a refused request, an error on our side.
import { Layout, pageTitle, type Section } from "./layout";

export function MessagePage(props: {
  title: string;
  message: string;
  section: Section | "none" | null;
  link?: { href: string; text: string };
}) {
  return (
    <Layout title={pageTitle(props.title)} section={props.section}>
      <h1>{props.title}</h1>
      <p>{props.message}</p>
      {props.link ? (
        <p>
          <a href={props.link.href}>{props.link.text}</a>
        </p>
      ) : null}
    </Layout>
  );
}
