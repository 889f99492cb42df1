// @flow
import type { Node } from './main.mjs';

type User = {| id: string, name?: ?string |};

export function greet(user: User): string {
  return `hi ${user.name ?? user.id}`;
}

export function first<T>(items: Array<T>): ?T {
  return items.length > 0 ? items[0] : null;
}
