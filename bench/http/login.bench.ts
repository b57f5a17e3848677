import { BenchSection } from '../support/bench-context';

export const runLoginBench: BenchSection = async () => {
  throw new Error('login bench: not written yet');
};
