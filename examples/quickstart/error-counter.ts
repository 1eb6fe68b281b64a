// A behaviour: counts ERROR entries per service in the LogBatches it receives.
// Behaviours live in their own module because worker threads import them by URL.
// (In your project, import from 'tributary' instead of the relative paths.)
import { BatchReader, Level, defineBehaviour } from '../../src/index.js';

interface State {
  errorsByService: Record<string, number>;
  entries: number;
}

export default defineBehaviour<State, void, 'report', State>({
  init: () => ({ errorsByService: {}, entries: 0 }),
  receive(state, frame) {
    const batch = BatchReader.open(frame.body);
    const levels = batch.levels();
    const services = batch.serviceIds();
    for (let i = 0; i < batch.count; i++) {
      if (levels[i] === Level.ERROR) {
        const service = batch.label(services[i]!);
        state.errorsByService[service] = (state.errorsByService[service] ?? 0) + 1;
      }
    }
    state.entries += batch.count;
  },
  ask: (state) => state,
});
