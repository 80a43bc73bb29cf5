/**
 * Subject, stream and bucket names. Everything a deployment owns on a NATS server starts with
 * its name, so two deployments share one server without answering for each other: the public
 * entry points are `<deployment>.sql`, `<deployment>.query`, … served by queue groups
 * `<deployment>.<service>`; region-scoped subjects are `<deployment>.r.<region>.…`; JetStream
 * streams are `<DEPLOYMENT>_<NAME>` and KV buckets `<deployment>_<name>`. The default deployment
 * is `entente`.
 */

export const DEFAULT_DEPLOYMENT = "entente";

/**
 * A deployment name: lower case, so its upper-case stream form names one deployment only, and
 * short enough to leave room in stream and bucket names.
 */
export const DEPLOYMENT_NAME = /^[a-z][a-z0-9_-]{0,31}$/;

export function deploymentName(value: string): string {
  if (!DEPLOYMENT_NAME.test(value)) {
    throw new Error(
      `deployment ${JSON.stringify(value)} is not a deployment name: use at most 32 lower-case letters, digits, '-' and '_', starting with a letter`,
    );
  }
  return value;
}

/** The subjects of one deployment. */
export function subjectsOf(deployment: string) {
  const root = deploymentName(deployment);
  return {
    deployment: root,
    query: `${root}.query`,
    /** PromQL over the query federation's instances; series, labels and values beside it. */
    promql: `${root}.promql`,
    sql: `${root}.sql`,
    /**
     * Where one sql-join worker takes the statements of the interactive transactions it holds
     * (each is a connection of that worker's): `<prefix>.<worker>`.
     */
    sqlSession: (worker: string) => `${root}.sql.session.${token(worker, "worker")}`,
    /** Tiered tables' moves, cold-store maintenance and materialized results. */
    tiers: `${root}.tiers`,
    /** Every table the SQL engine knows, and each one's statistics. */
    catalog: `${root}.catalog`,
    /** In-doubt distributed transactions: listed, committed or rolled back by hand. */
    tx: `${root}.tx`,
    /** Sagas: started, listed and looked up. */
    saga: `${root}.saga`,
    data: {
      /** Rows read by their region-owned ids, from whichever regions own them. */
      get: `${root}.data.get`,
      /** Rows written by id, each to the region that owns it. */
      put: `${root}.data.put`,
      /** A region's feed of the changes written through `put`, read by stream sequence. */
      changes: `${root}.data.changes`,
      /** Where a region publishes those changes into its own change stream. */
      changed: `${root}.data.changed`,
    },
    ingest: (instance: string) => `${root}.ingest.${token(instance, "instance")}`,
    /** The prefix of the ingest subjects: `<prefix>.<instance>`. */
    ingestPrefix: `${root}.ingest`,
    /** Where validated ingest batches enter the ingest stream: `<prefix>.<instance>`. */
    ingested: `${root}.ingested`,
    /** Dead-lettered ingest batches: `<prefix>.<instance>.<sequence>`. */
    ingestDeadLetter: `${root}.ingest-dlq`,
    bridge: `${root}.bridge`,
    bridgeStatus: (link: string) => `${root}.bridge.status.${token(link, "link")}`,
    diagnostics: {
      echo: `${root}.diag.echo`,
      stream: `${root}.diag.stream`,
      info: `${root}.diag.info`,
    },
    /** The queue group a service's workers share, so NATS spreads requests among them. */
    queueGroup: (service: string) => `${root}.${token(service, "service")}`,
    /**
     * A message for another region (its name or id), carried there by the region routers:
     * `<deployment>.r.<region>.fwd.<subject>` arrives as `<subject>` in that region.
     */
    routed: (region: string | number, subject: string) =>
      `${root}.r.${token(String(region), "region")}.fwd.${subject}`,
    /** Every routed message, as the region router listens for them. */
    routedAll: `${root}.r.*.fwd.>`,
    /** The region router's subjects: the first three in any region, the rest per region id. */
    router: {
      /** Announces and leaves, answered by the root (any other router passes them on). */
      announce: `${root}.router.announce`,
      leave: `${root}.router.leave`,
      /** Asks this region's router to leave the hierarchy (until it restarts). */
      depart: `${root}.router.depart`,
      /** The signed registry as this region holds it. */
      registry: `${root}.router.registry`,
      /** This region's registry, links and routes, for the command line. */
      regions: `${root}.router.regions`,
      links: `${root}.router.links`,
      route: `${root}.router.route`,
      /** What this region's clients sent to each other region, and what came back. */
      traffic: `${root}.router.traffic`,
      /** Probes of the link to region `id`, answered there. */
      probe: (id: number) => `${root}.r.${id}.router.probe`,
      /** Link-state adverts and registry snapshots flooded to region `id`. */
      adverts: (id: number) => `${root}.r.${id}.router.adverts`,
      registryPush: (id: number) => `${root}.r.${id}.router.registry`,
    },
    region: (region: string, ...parts: string[]) =>
      [root, "r", token(region, "region"), ...parts.map((p) => token(p, "subject part"))].join("."),
  };
}

export type DeploymentSubjects = ReturnType<typeof subjectsOf>;

/** The default deployment's subjects. */
export const SUBJECTS: DeploymentSubjects = subjectsOf(DEFAULT_DEPLOYMENT);

/** The queue group a service's workers share, so NATS spreads requests among them. */
export function queueGroupOf(service: string, deployment = DEFAULT_DEPLOYMENT): string {
  return subjectsOf(deployment).queueGroup(service);
}

export function regionSubject(region: string, ...parts: string[]): string {
  return SUBJECTS.region(region, ...parts);
}

/** A JetStream stream of a deployment: `ENTENTE_INGEST` for `ingest` in the default one. */
export function streamNameOf(deployment: string, name: string): string {
  return `${deploymentName(deployment).toUpperCase()}_${name.toUpperCase()}`;
}

/** A JetStream KV bucket of a deployment: `entente_bridge_links` in the default one. */
export function bucketNameOf(deployment: string, name: string): string {
  return `${deploymentName(deployment)}_${name}`;
}

const TOKEN = /^[A-Za-z0-9_-]+$/;

/** A single subject token: no dots, wildcards or spaces, so a name cannot widen a subject. */
export function token(value: string, what: string): string {
  if (!TOKEN.test(value)) {
    throw new Error(
      `${what} ${JSON.stringify(value)} cannot be used in a subject: use letters, digits, '-' and '_'`,
    );
  }
  return value;
}
