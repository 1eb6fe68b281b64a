export { BatchBuilder, type BatchBuilderOptions } from './builder.js';
export { encodeBatch } from './encode.js';
export { BatchReader, type BatchReaderOptions } from './reader.js';
export { MAX_BATCH_BYTES, MAX_ENTRIES, MAX_LABEL_BYTES, MAX_MESSAGE_BYTES, HEADER_BYTES as BATCH_HEADER_BYTES, BATCH_VERSION } from './layout.js';
