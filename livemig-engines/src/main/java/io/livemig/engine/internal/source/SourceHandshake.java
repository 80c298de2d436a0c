package io.livemig.engine.internal.source;

import io.livemig.api.EscalationStep;
import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.ProtocolException;
import io.livemig.api.Strategy;
import io.livemig.engine.internal.Codecs;
import io.livemig.engine.internal.wire.HandshakeFrames;
import io.livemig.engine.internal.wire.Wire;
import io.livemig.spi.VmDescriptor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The source's side of the handshake (docs/protocol.md, section 3): HELLO, HELLO_ACK, SETUP,
 * READY. Agrees the protocol version, the frame limit and the page encodings, and sizes the
 * PAGES frames to fit.
 */
final class SourceHandshake {

    private static final Logger LOG = LoggerFactory.getLogger(SourceHandshake.class);

    /**
     * What the two sides agreed.
     *
     * @param maxFrameBytes the frame limit
     * @param batchPages    the most entries per PAGES frame
     */
    record Agreement(int maxFrameBytes, int batchPages) {
    }

    private SourceHandshake() {
    }

    /**
     * Runs the handshake; on return the destination has created the target and the link's control
     * frames are sized to the agreed limit.
     *
     * @throws MigrationException if the destination is incompatible, answers wrongly, or the link failed
     */
    static Agreement run(SourceLink link, VmDescriptor descriptor, MigrationOptions options)
            throws MigrationException {
        long supported = Codecs.wireBits(options.codecs());
        int proposed = Math.min(Wire.DEFAULT_MAX_FRAME_BYTES, link.maxMessageBytes());
        long sent = options.timeSource().nanoTime();
        link.send(new HandshakeFrames.Hello(Wire.VERSION, Wire.VERSION, proposed, supported));
        SourceLink.Arrival<HandshakeFrames.HelloAck> arrival = link.await(HandshakeFrames.HelloAck.class);
        LOG.debug("handshake round trip {} µs", (arrival.arrivalNanos() - sent) / 1000);
        HandshakeFrames.HelloAck ack = arrival.message();
        if (ack.version() != Wire.VERSION) {
            throw link.protocol(ProtocolException.Kind.INCOMPATIBLE, "destination chose protocol version "
                    + ack.version() + ", this source speaks only " + Wire.VERSION);
        }
        if (ack.encodings() != supported) {
            throw link.protocol(ProtocolException.Kind.INCOMPATIBLE, String.format(
                    "destination agreed encodings %x, source needs %x", ack.encodings(), supported));
        }
        int maxFrame = Math.min(ack.maxFrameBytes(), proposed);
        link.agreeFrameLimit(maxFrame);
        int pageSize = descriptor.memoryLayout().pageSizeBytes();
        int fit = (maxFrame - Wire.MIN_FRAME_BYTES - Wire.PAGES_HEADER_BYTES) / (pageSize + Wire.PAGE_ENTRY_BYTES);
        if (fit < 1) {
            throw link.protocol(ProtocolException.Kind.INCOMPATIBLE, "a " + pageSize
                    + "-byte page does not fit in the " + maxFrame + "-byte frame limit");
        }
        int batchPages = Math.min(options.batchPages(), fit);
        link.send(new HandshakeFrames.Setup(options.strategy(), options.verify(), mayPostcopy(options), descriptor,
                batchPages));
        link.await(HandshakeFrames.Ready.class);
        return new Agreement(maxFrame, batchPages);
    }

    /** @return whether the migration may switch to post-copy, so the target must page on demand */
    private static boolean mayPostcopy(MigrationOptions options) {
        return options.strategy() == Strategy.POSTCOPY || options.strategy() == Strategy.HYBRID
                || options.escalation().stream().anyMatch(s -> s instanceof EscalationStep.SwitchToPostcopy);
    }
}
