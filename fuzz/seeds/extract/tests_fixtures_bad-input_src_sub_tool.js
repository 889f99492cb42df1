export const tool = 'sub-tool';
