/**
 * Wire protocol v2 (docs/protocol.md): frame types and limits, the checked frame reader and the
 * frame writer, every frame but PAGES as a {@link io.livemig.engine.internal.wire.Message} record
 * with its writer and its checked reader, and the in-place PAGES batch writer and reader. Not
 * exported.
 */
package io.livemig.engine.internal.wire;
