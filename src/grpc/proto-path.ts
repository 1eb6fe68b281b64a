import { fileURLToPath } from 'node:url';

/** The one .proto of Tributary's wire contract (services and the exported entry message). */
export const PROTO_PATH = fileURLToPath(new URL('../../../proto/tributary/v1/tributary.proto', import.meta.url));
