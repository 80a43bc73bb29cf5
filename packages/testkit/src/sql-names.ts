/**
 * Database names are checked rather than escaped: a test-chosen name with odd characters is
 * almost always a mistake, and a plain name is the same in every SQL dialect and URL.
 */
export function checkDatabaseName(name: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(name)) {
    throw new Error(
      `database name ${JSON.stringify(name)} must be 1-63 letters, digits or underscores, ` +
        "not starting with a digit",
    );
  }
  return name;
}

/** `url` with its path replaced by `/database`. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}
