export const DAY_MS = 24 * 60 * 60 * 1000;

export function formatDate(d) {
  return d.toISOString().slice(0, 10);
}

export function addDays(d, n) {
  return new Date(d.getTime() + n * DAY_MS);
}
