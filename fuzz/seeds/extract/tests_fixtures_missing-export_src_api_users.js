export function getUser(id) {
  return { id, name: `user-${id}` };
}
