package io.livemig.engine.internal.source;

import io.livemig.api.EscalationStep;
import io.livemig.api.MigrationException;
import io.livemig.api.MigrationOptions;
import io.livemig.api.MigrationSecret;
import io.livemig.api.ProtocolException;
import io.livemig.api.Strategy;
import io.livemig.channel.Reconnector;
import io.livemig.engine.internal.Codecs;
import io.livemig.engine.internal.Redial;
import io.livemig.engine.internal.wire.FrameWarmup;
import io.livemig.engine.internal.wire.HandshakeFrames.Purpose;
import io.livemig.engine.internal.wire.HandshakeFrames;
import io.livemig.engine.internal.wire.HandshakeProof;
import io.livemig.engine.internal.wire.Wire;
import io.livemig.spi.VmDescriptor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.security.SecureRandom;
import java.util.Optional;

/**
 * The source's side of the handshake (docs/protocol.md, section 3): HELLO, HELLO_ACK, AUTH when
 * both sides hold the migration secret, then SETUP and READY for a new migration. Agrees the
 * protocol version, the frame limit and the page encodings, sizes the PAGES frames to fit, and
 * checks the destination's proof of the secret before it sends anything about the VM. Recovery and
 * settle connections greet the same way, with the migration's session id.
 */
final class SourceHandshake {

    private static final Logger LOG = LoggerFactory.getLogger(SourceHandshake.class);
    private static final SecureRandom RANDOM = new SecureRandom();

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

    /** @return a new random session id for a migration */
    static byte[] newSessionId() {
        byte[] id = new byte[HandshakeFrames.SESSION_ID_BYTES];
        RANDOM.nextBytes(id);
        return id;
    }

    /**
     * Runs a new migration's handshake; on return the destination has created the target and the
     * link's control frames are sized to the agreed limit.
     *
     * @throws MigrationException if the destination is incompatible, does not prove the secret,
     *                            answers wrongly, or the link failed
     */
    static Agreement run(SourceLink link, byte[] sessionId, VmDescriptor descriptor, MigrationOptions options,
                         DiskCopy disks) throws MigrationException {
        int maxFrame = greet(link, Purpose.NEW, sessionId, options);
        int pageSize = descriptor.memoryLayout().pageSizeBytes();
        int fit = (maxFrame - Wire.MIN_FRAME_BYTES - Wire.PAGES_HEADER_BYTES) / (pageSize + Wire.PAGE_ENTRY_BYTES);
        if (fit < 1) {
            throw link.protocol(ProtocolException.Kind.INCOMPATIBLE, "a " + pageSize
                    + "-byte page does not fit in the " + maxFrame + "-byte frame limit");
        }
        int batchPages = Math.min(options.batchPages(), fit);
        link.send(new HandshakeFrames.Setup(options.strategy(), options.verify(), mayPostcopy(options), descriptor,
                batchPages, disks.offers()));
        // The destination now makes the target: time this side would otherwise spend waiting.
        FrameWarmup.run();
        if (disks.any()) {
            disks.takePlan();
        } else {
            link.await(HandshakeFrames.Ready.class);
        }
        return new Agreement(maxFrame, batchPages);
    }

    /**
     * HELLO, HELLO_ACK and, with a secret, AUTH on a fresh channel.
     *
     * @return the agreed frame limit (the link's control frames are sized to it)
     * @throws MigrationException if the destination is incompatible or does not prove the secret
     */
    static int greet(SourceLink link, Purpose purpose, byte[] sessionId, MigrationOptions options)
            throws MigrationException {
        Optional<MigrationSecret> secret = options.secret();
        long supported = Codecs.wireBits(options.codecs());
        int proposed = Math.min(Wire.DEFAULT_MAX_FRAME_BYTES, link.maxMessageBytes());
        byte[] nonce = new byte[HandshakeFrames.NONCE_BYTES];
        RANDOM.nextBytes(nonce);
        long sent = options.timeSource().nanoTime();
        link.send(new HandshakeFrames.Hello(Wire.VERSION, Wire.VERSION, proposed, supported, purpose,
                secret.isPresent(), sessionId, nonce));
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
        if (ack.maxFrameBytes() > proposed) {
            throw link.protocol(ProtocolException.Kind.INCOMPATIBLE, "destination agreed a frame limit of "
                    + ack.maxFrameBytes() + " bytes, above the " + proposed + " proposed");
        }
        if (ack.auth() != secret.isPresent()) {
            throw link.protocol(ProtocolException.Kind.UNAUTHENTICATED, secret.isPresent()
                    ? "this source holds a migration secret, but the destination does not prove one"
                    : "the destination requires a migration secret, and this source has none");
        }
        if (secret.isPresent()) {
            byte[] transcript = HandshakeProof.transcript(purpose, sessionId, nonce, ack.nonce(), ack.maxFrameBytes(),
                    ack.encodings());
            if (!HandshakeProof.matches(HandshakeProof.destination(secret.get(), transcript), ack.proof())) {
                throw link.protocol(ProtocolException.Kind.UNAUTHENTICATED,
                        "the destination's proof of the migration secret is wrong");
            }
            link.agreeFrameLimit(ack.maxFrameBytes());
            link.send(new HandshakeFrames.Auth(HandshakeProof.source(secret.get(), transcript)));
        } else {
            link.agreeFrameLimit(ack.maxFrameBytes());
        }
        return ack.maxFrameBytes();
    }

    /**
     * After a break: closes the broken channel and moves the link to a new one, redialled within
     * the recovery window and greeted for {@code purpose} with this migration's session id (and the
     * secret), so that no other connection can stand in for this migration.
     *
     * @throws IOException if no new channel was greeted within the window
     */
    static void regreet(SourceLink link, Reconnector reconnector, Purpose purpose, byte[] sessionId,
                        MigrationOptions options) throws IOException {
        link.closeChannel();
        Redial.within(options.recoveryWindow(), reconnector, fresh -> {
            link.replace(fresh);
            greet(link, purpose, sessionId, options);
            return fresh;
        });
    }

    /** @return whether the migration may switch to post-copy, so the target must page on demand */
    private static boolean mayPostcopy(MigrationOptions options) {
        return options.strategy() == Strategy.POSTCOPY || options.strategy() == Strategy.HYBRID
                || options.strategy() != Strategy.TRACE_REPLAY && options.escalation().stream().anyMatch(s -> s instanceof EscalationStep.SwitchToPostcopy);
    }
}
