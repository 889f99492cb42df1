export const db = { users: [{ name: 'ada' }, { name: 'grace' }] };
