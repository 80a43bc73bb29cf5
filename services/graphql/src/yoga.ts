/**
 * graphql-yoga, loaded through a specifier the compiler does not follow. Its type declarations
 * reach @whatwg-node/fetch's, which start with `/// <reference lib="dom" />`: any program that
 * included them would take on the DOM library, whose `fetch` types differ from Node's, and the
 * repository type-checks every package's tests (and `entente serve`, which loads this service)
 * as one program. The few parts of yoga used here are typed below against graphql's own types.
 */
import type {
  ASTNode,
  DocumentNode,
  GraphQLError,
  GraphQLSchema,
  ParseOptions,
  Source,
  ValidationRule,
} from "graphql";

export type ParseFunction = (source: string | Source, options?: ParseOptions) => DocumentNode;

/** The hooks of an envelop plugin used here. */
export interface YogaPlugin {
  onParse?(payload: { parseFn: ParseFunction; setParseFn(fn: ParseFunction): void }): void;
  onValidate?(payload: { addValidationRule(rule: ValidationRule): void }): void;
}

export interface YogaLogger {
  debug(...args: unknown[]): void;
  info(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}

/** A yoga server: a fetch handler whose second argument is merged into the GraphQL context. */
export interface YogaServer<C> {
  fetch(request: Request, context: C): Promise<Response> | Response;
  dispose(): Promise<void> | void;
}

/** The CORS headers yoga adds to an answer (of `@whatwg-node/server`'s options, those used). */
export interface YogaCorsOptions {
  origin: string[];
  methods: string[];
  allowedHeaders: string[];
  credentials: boolean;
  maxAge?: number;
}

/** false: no CORS headers, and OPTIONS is not answered; else the options for a request. */
export type YogaCors = false | ((request: Request) => YogaCorsOptions | false);

export interface YogaModule {
  createYoga<C>(options: {
    schema: GraphQLSchema;
    cors: YogaCors;
    graphqlEndpoint: string;
    healthCheckEndpoint: string;
    landingPage: boolean;
    batching: boolean;
    logging: YogaLogger;
    plugins: YogaPlugin[];
  }): YogaServer<C>;
  createSchema(options: { typeDefs: string; resolvers: Record<string, unknown> }): GraphQLSchema;
  /** A GraphQLError of yoga's own graphql, which yoga shows unmasked. */
  createGraphQLError(
    message: string,
    options?: { nodes?: readonly ASTNode[]; extensions?: Record<string, unknown> },
  ): GraphQLError;
}

const YOGA_MODULE: string = "graphql-yoga";

export const yoga = (await import(YOGA_MODULE)) as YogaModule;
