/**
 * Runs `work` (a transaction) once more if it lost a race on a unique index (PostgreSQL 23505):
 * two requests creating the same account at once; the second run sees the winner's row.
 */
export async function onceMoreIfRaced<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    const code = (error as { code?: string }).code ?? (error as { driverError?: { code?: string } }).driverError?.code;
    if (code !== '23505') throw error;
    return work();
  }
}
