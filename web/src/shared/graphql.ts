// A minimal GraphQL-over-HTTP client for Touchpoint's own /graphql endpoint (same origin).

export interface GraphQLErrorItem {
  message: string;
  path?: (string | number)[];
  extensions?: { code?: string; [key: string]: unknown };
}

export interface SourceLocation {
  part: string;
  line: number;
  column: number;
}

/** The contract's `Brand`, as both pages read it. */
export interface Brand {
  name: string;
  logoUrl: string | null;
  primaryColor: string;
  supportEmail: string;
  supportPhone: string | null;
  websiteUrl: string | null;
}

export interface UserError {
  field?: string[] | null;
  code: string;
  message: string;
  location?: SourceLocation | null;
}

/** A request that failed as a whole: network, HTTP status or top-level GraphQL errors. */
export class RequestError extends Error {
  readonly errors: GraphQLErrorItem[];
  constructor(message: string, errors: GraphQLErrorItem[] = []) {
    super(message);
    this.errors = errors;
  }
  get code(): string | undefined {
    return this.errors.find((e) => e.extensions?.code)?.extensions?.code;
  }
  /** The token is missing, expired or not allowed here. */
  get isAuthFailure(): boolean {
    return this.errors.some((e) => e.extensions?.code === 'UNAUTHENTICATED' || e.extensions?.code === 'FORBIDDEN');
  }
}

export interface RequestOptions {
  token?: string | null;
  signal?: AbortSignal;
  /** Return data even when some fields errored (errors are then ignored). */
  partial?: boolean;
}

export async function graphql<T>(
  query: string,
  variables: Record<string, unknown> = {},
  options: RequestOptions = {},
): Promise<T> {
  const headers: Record<string, string> = { 'Content-Type': 'application/json', Accept: 'application/json' };
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  let response: Response;
  try {
    response = await fetch('/graphql', {
      method: 'POST',
      headers,
      body: JSON.stringify({ query, variables }),
      signal: options.signal,
      credentials: 'omit',
    });
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw new RequestError('The server could not be reached. Check your connection and try again.');
  }
  let body: { data?: T | null; errors?: GraphQLErrorItem[] } | null = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!body) throw new RequestError(`The server answered ${response.status} without a readable response.`);
  const errors = body.errors ?? [];
  if (errors.length > 0 && !(options.partial && body.data)) {
    throw new RequestError(errors.map((e) => e.message).join('; '), errors);
  }
  if (body.data == null) throw new RequestError(`The server answered ${response.status} without data.`, errors);
  return body.data;
}
