// What in the environment makes every Node process start slower, for the notes of the
// cases that time a berth command as a process (berth run, berth-runtime run).

/** One note per start-up setting found in `env`; none when there is none. Pure. */
export function nodeStartNotes(env: NodeJS.ProcessEnv = process.env): string[] {
  const notes: string[] = [];
  if (env.NODE_EXTRA_CA_CERTS)
    notes.push(
      `NODE_EXTRA_CA_CERTS is set (${env.NODE_EXTRA_CA_CERTS}): Node reads and parses that certificate file at every ` +
        'start, before any JavaScript runs (about 25-45 ms of CPU per start with the Debian bundle, README "Start-up ' +
        'of the commands"); the docker CLI, runc and crun pay nothing like it.',
    );
  if (env.NODE_OPTIONS) notes.push(`NODE_OPTIONS is set: ${JSON.stringify(env.NODE_OPTIONS)}.`);
  return notes;
}
