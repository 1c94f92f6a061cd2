// The studio's GraphQL operations and the shapes they return (see contract.graphql).
import { graphql, type Brand, type SourceLocation, type UserError } from '../shared/graphql';

export type { Brand };

export type { UserError, SourceLocation };

export interface VersionSummary {
  version: number;
  publishedAt?: string | null;
}

export interface TemplateSummary {
  kind: string;
  locale: string;
  published: VersionSummary | null;
  draft: VersionSummary | null;
  versions: VersionSummary[];
}

export interface TemplateVersion {
  version: number;
  subject: string;
  html: string;
  text: string | null;
  dataQuery: string;
  author: string;
  createdAt: string;
  publishedAt: string | null;
}

export interface EmailTemplate {
  kind: string;
  locale: string;
  published: TemplateVersion | null;
  draft: TemplateVersion | null;
  versions: TemplateVersion[];
}

export interface Draft {
  subject: string;
  html: string;
  text: string;
  dataQuery: string;
}

export interface RenderedEmail {
  subject: string;
  html: string;
  text: string;
}

export interface EmailPreview {
  email: RenderedEmail | null;
  context: unknown;
  userErrors: UserError[];
}

export interface TestSend {
  id: string;
  status: string;
  to: string;
  subject: string;
  lastError: string | null;
  isTest: boolean;
}

const USER_ERRORS = 'userErrors { field code message location { part line column } }';
const VERSION_FIELDS = 'version subject html text dataQuery author createdAt publishedAt';
const TEMPLATE_FIELDS = `kind locale published { ${VERSION_FIELDS} } draft { ${VERSION_FIELDS} } versions { ${VERSION_FIELDS} }`;
const BRAND_FIELDS = 'name logoUrl primaryColor supportEmail supportPhone websiteUrl';

export class StudioApi {
  constructor(private readonly token: string) {}

  async listTemplates(): Promise<TemplateSummary[]> {
    const data = await graphql<{ emailTemplates: TemplateSummary[] }>(
      `query StudioTemplates {
        emailTemplates { kind locale published { version publishedAt } draft { version } versions { version } }
      }`,
      {},
      { token: this.token },
    );
    return data.emailTemplates;
  }

  async template(kind: string, locale: string): Promise<EmailTemplate | null> {
    const data = await graphql<{ emailTemplate: EmailTemplate | null }>(
      `query StudioTemplate($kind: NotificationKind!, $locale: String) {
        emailTemplate(kind: $kind, locale: $locale) { ${TEMPLATE_FIELDS} }
      }`,
      { kind, locale },
      { token: this.token },
    );
    return data.emailTemplate;
  }

  async preview(kind: string, locale: string, draft: Draft, orderNumber: string, signal?: AbortSignal): Promise<EmailPreview> {
    const input: Record<string, unknown> = { kind, locale, draft };
    if (orderNumber.trim()) input.orderNumber = orderNumber.trim();
    const data = await graphql<{ previewEmail: EmailPreview }>(
      `query StudioPreview($input: PreviewEmailInput!) {
        previewEmail(input: $input) { email { subject html text } context ${USER_ERRORS} }
      }`,
      { input },
      { token: this.token, signal },
    );
    return data.previewEmail;
  }

  async saveDraft(kind: string, locale: string, draft: Draft): Promise<{ template: EmailTemplate | null; userErrors: UserError[] }> {
    const data = await graphql<{ saveEmailTemplateDraft: { template: EmailTemplate | null; userErrors: UserError[] } }>(
      `mutation StudioSaveDraft($input: SaveEmailTemplateDraftInput!) {
        saveEmailTemplateDraft(input: $input) { template { ${TEMPLATE_FIELDS} } ${USER_ERRORS} }
      }`,
      { input: { kind, locale, ...draft } },
      { token: this.token },
    );
    return data.saveEmailTemplateDraft;
  }

  async publish(kind: string, locale: string, version: number): Promise<{ template: EmailTemplate | null; userErrors: UserError[] }> {
    const data = await graphql<{ publishEmailTemplate: { template: EmailTemplate | null; userErrors: UserError[] } }>(
      `mutation StudioPublish($input: PublishEmailTemplateInput!) {
        publishEmailTemplate(input: $input) { template { ${TEMPLATE_FIELDS} } ${USER_ERRORS} }
      }`,
      { input: { kind, locale, version } },
      { token: this.token },
    );
    return data.publishEmailTemplate;
  }

  async sendTest(
    kind: string,
    locale: string,
    to: string,
    orderNumber: string,
    useDraft: boolean,
  ): Promise<{ communication: TestSend | null; userErrors: UserError[] }> {
    const input: Record<string, unknown> = { kind, locale, to, useDraft };
    if (orderNumber.trim()) input.orderNumber = orderNumber.trim();
    const data = await graphql<{ sendTestEmail: { communication: TestSend | null; userErrors: UserError[] } }>(
      `mutation StudioSendTest($input: SendTestEmailInput!) {
        sendTestEmail(input: $input) { communication { id status to subject lastError isTest } ${USER_ERRORS} }
      }`,
      { input },
      { token: this.token },
    );
    return data.sendTestEmail;
  }

  /** A cheap request every studio role (agent, marketing, admin) may make: checks the token at sign-in. */
  async probe(): Promise<void> {
    const today = new Date().toISOString().slice(0, 10);
    await graphql<{ experienceMetrics: { from: string } }>(
      `query StudioProbe($day: Date!) { experienceMetrics(from: $day, to: $day) { from } }`,
      { day: today },
      { token: this.token },
    );
  }

  async experienceMetrics<T>(query: string, variables: Record<string, unknown>, signal?: AbortSignal): Promise<T> {
    return graphql<T>(query, variables, { token: this.token, signal });
  }

  async brand(): Promise<Brand> {
    const data = await graphql<{ brand: Brand }>(`query StudioBrand { brand { ${BRAND_FIELDS} } }`, {}, { token: this.token });
    return data.brand;
  }

  async updateBrand(input: Partial<Brand>): Promise<{ brand: Brand | null; userErrors: UserError[] }> {
    const data = await graphql<{ updateBrand: { brand: Brand | null; userErrors: UserError[] } }>(
      `mutation StudioUpdateBrand($input: UpdateBrandInput!) {
        updateBrand(input: $input) { brand { ${BRAND_FIELDS} } ${USER_ERRORS} }
      }`,
      { input },
      { token: this.token },
    );
    return data.updateBrand;
  }
}

/** "html, line 3, column 5: message" or just the message. */
export function describeUserError(error: UserError): string {
  const loc = error.location;
  if (loc) return `${loc.part}, line ${loc.line}, column ${loc.column}: ${error.message}`;
  const field = error.field?.length ? `${error.field.join('.')}: ` : '';
  return `${field}${error.message}`;
}

export function humanKind(kind: string): string {
  const words = kind.toLowerCase().split('_').join(' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

export function formatDateTime(value: string | null | undefined): string {
  if (!value) return '';
  const d = new Date(value);
  if (Number.isNaN(d.getTime())) return value;
  return d.toLocaleString('en-GB', { dateStyle: 'medium', timeStyle: 'short' });
}
