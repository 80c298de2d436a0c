package io.livemig.e2e.fuzz;

import io.livemig.api.MigrationSecret;
import io.livemig.channel.Channel;
import io.livemig.channel.MessageTooLargeException;
import io.livemig.channel.Reconnector;
import io.livemig.engine.internal.wire.Frame;
import io.livemig.engine.internal.wire.FrameType;
import io.livemig.engine.internal.wire.HandshakeFrames;
import io.livemig.engine.internal.wire.HandshakeProof;
import io.livemig.engine.internal.wire.WireException;
import io.livemig.kit.InMemoryVm;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.PageSet;
import io.livemig.spi.VmDescriptor;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.List;
import java.util.Queue;
import java.util.function.Supplier;
import java.util.zip.CRC32C;

/**
 * A source that plays a {@link FuzzScript}, seen from the destination: its {@link #first()}
 * connection, and further ones from its {@link #reconnector()} after a cut the script says the
 * source comes back from. Each receive on a connection plays the script's next record (after its
 * preamble) as one message, made when asked, so that an AUTH can answer the HELLO_ACK just sent
 * and a page can build on what the target holds now. The end of the script is an orderly close;
 * a {@link FuzzScript.Op#CUT} record breaks the connection. Nothing ever blocks, so a run lasts as
 * long as the destination takes to process the script.
 *
 * <p>What the script has announced so far (HELLO, SETUP, MISSING_PAGES) and what the destination
 * answered (HELLO_ACK) is its {@link Session}, which the {@link WellFormedFrames} build on.
 *
 * <p>Receives come from the destination's receiving thread; sends from it and from its post-copy
 * page requester, so the return path's bookkeeping is synchronized.
 */
final class ScriptedSource {

    /** The largest message either way, which caps the agreed frame limit (a HELLO proposes more). */
    static final int MAX_MESSAGE_BYTES = 256 << 10;
    /** A SETUP is taken as the session's only if the fuzzer's limits can admit it (see {@link ReceiverRun}). */
    private static final long MAX_SESSION_SPAN = 1 << 16;

    private enum Preamble { HELLO, AUTH, SETUP }

    private final FuzzScript script;
    private final MigrationSecret secret;
    private final Supplier<InMemoryVm> target;
    private final Session session = new Session();
    private final WellFormedFrames frames;
    private final Queue<Preamble> preamble = new ArrayDeque<>();
    private final CRC32C crc = new CRC32C();
    private final int[] sentByType = new int[256];
    private final Connection first = new Connection();
    private final boolean comesBack;
    /** Whether the last cut said the source comes back. Receiving thread only. */
    private boolean comingBack;
    /** Why a return frame the script reads could not be read, or null. Guarded by this. */
    private String malformedReturn;
    /** The last HELLO played and HELLO_ACK answered: an AUTH's transcript. Guarded by this. */
    private HandshakeFrames.Hello hello;
    private HandshakeFrames.HelloAck helloAck;

    /**
     * @param script the source's script
     * @param secret the migration secret both sides hold, or null
     * @param target the target the destination made, or null before it made one
     */
    ScriptedSource(FuzzScript script, MigrationSecret secret, Supplier<InMemoryVm> target) {
        this.script = script;
        this.secret = secret;
        this.target = target;
        this.frames = new WellFormedFrames(session);
        this.comesBack = script.comesBack();
        if (script.preamble() >= 1) {
            preamble.add(Preamble.HELLO);
            if (secret != null) {
                preamble.add(Preamble.AUTH);
            }
        }
        if (script.preamble() >= 2) {
            preamble.add(Preamble.SETUP);
        }
    }

    /** @return the first connection */
    Channel first() {
        return first;
    }

    /**
     * @return the destination's reconnector: after a cut the source comes back from, a new
     *         connection that plays the rest of the script; else an IOException, at once. A script
     *         that never comes back gets {@link Reconnector#NONE}, which the destination does not
     *         retry (it pauses before retrying any other).
     */
    Reconnector reconnector() {
        if (!comesBack) {
            return Reconnector.NONE;
        }
        return () -> {
            if (!comingBack) {
                throw new IOException("the source does not come back");
            }
            comingBack = false;
            return new Connection();
        };
    }

    /** @return the next message, or null at the end of the script */
    private ByteBuffer next() throws IOException {
        Preamble step = preamble.poll();
        if (step != null) {
            return switch (step) {
                case HELLO -> frames.hello(secret != null);
                case AUTH -> frames.auth(proof(new byte[0]));
                case SETUP -> frames.setup(script.config());
            };
        }
        FuzzScript.Step record = script.next();
        if (record == null) {
            return null;
        }
        WellFormedFrames.Body body = new WellFormedFrames.Body(record.body());
        return switch (record.op()) {
            case FRAME -> withCrc(record.body());
            case RAW -> ByteBuffer.wrap(record.body());
            case AUTH -> frames.auth(proof(record.body()));
            case PAGES -> frames.pages(body);
            case STATE -> frames.state(body);
            case CONTROL -> frames.control(body);
            case MISSING -> frames.missing(body);
            case DIGESTS -> frames.digests(body);
            case CUT -> {
                comingBack = record.comesBack();
                throw new Cut();
            }
        };
    }

    /** The script cut the connection it was playing on. */
    private static final class Cut extends IOException {
        private static final long serialVersionUID = 1L;

        Cut() {
            super("the fuzzer cut the link");
        }
    }

    private ByteBuffer withCrc(byte[] frame) {
        crc.reset();
        crc.update(frame);
        return ByteBuffer.allocate(frame.length + 4).put(frame).putInt((int) crc.getValue()).flip();
    }

    /** @return the source's proof for this connection if the script holds the secret, else {@code otherwise} */
    private synchronized byte[] proof(byte[] otherwise) {
        if (secret == null || hello == null || helloAck == null) {
            return otherwise;
        }
        return HandshakeProof.source(secret, HandshakeProof.transcript(hello.purpose(), hello.sessionId(),
                hello.nonce(), helloAck.nonce(), helloAck.maxFrameBytes(), helloAck.encodings()));
    }

    /** Remembers what a well-formed HELLO, SETUP or MISSING_PAGES announces. */
    private void observe(ByteBuffer message) {
        try {
            Frame frame = Frame.open(message, crc);
            switch (frame.type()) {
                case HELLO -> {
                    HandshakeFrames.Hello h = HandshakeFrames.Hello.read(frame);
                    synchronized (this) {
                        hello = h;
                    }
                }
                case SETUP -> session.announce(HandshakeFrames.Setup.read(frame).descriptor());
                case MISSING_PAGES -> session.missingSent = true;
                default -> {
                    // nothing to remember
                }
            }
        } catch (WireException notWellFormed) {
            // the destination will say so
        }
    }

    /** Counts a return frame, and keeps a HELLO_ACK for the AUTH that answers it. */
    private synchronized void returned(ByteBuffer message) {
        if (!message.hasRemaining()) {
            return;
        }
        int type = Byte.toUnsignedInt(message.get(message.position()));
        sentByType[type]++;
        if (type == FrameType.HELLO_ACK.code()) {
            try {
                helloAck = HandshakeFrames.HelloAck.read(Frame.open(message.duplicate(), new CRC32C()));
            } catch (WireException e) {
                malformedReturn = "the destination sent a malformed HELLO_ACK: " + e.getMessage();
            }
        }
    }

    /** @return why a return frame the script read was malformed, or null if none was */
    synchronized String malformedReturn() {
        return malformedReturn;
    }

    /** @return how many frames of {@code type} the destination sent, on every connection */
    synchronized int sent(FrameType type) {
        return sentByType[type.code()];
    }

    /** One connection of the source: the destination's end of it. */
    private final class Connection implements Channel {
        private volatile boolean closed;
        private volatile boolean broken;

        @Override
        public int receive(ByteBuffer destination) throws IOException {
            if (closed || broken) {
                throw new IOException(closed ? "the channel is closed" : "the link is broken");
            }
            ByteBuffer message;
            try {
                message = next();
            } catch (Cut cut) {
                broken = true;
                throw cut;
            }
            if (message == null) {
                return -1;
            }
            observe(message.duplicate());
            int length = message.remaining();
            if (length > destination.remaining()) {
                throw new MessageTooLargeException(length, destination.remaining());
            }
            destination.put(message);
            return length;
        }

        @Override
        public void send(ByteBuffer message) throws IOException {
            if (closed || broken) {
                throw new IOException(closed ? "the channel is closed" : "the link is broken");
            }
            returned(message);
            message.position(message.limit());
        }

        @Override
        public int maxMessageBytes() {
            return MAX_MESSAGE_BYTES;
        }

        @Override
        public String peer() {
            return "fuzz:script";
        }

        @Override
        public void close() {
            closed = true;
        }
    }

    /**
     * What the script has announced: the layout, vCPUs and devices of its last admissible SETUP
     * (before one, those of the preamble's configuration), whether it sent MISSING_PAGES, and the
     * target's pages. For the receiving thread.
     */
    final class Session {
        private VmDescriptor announced;
        private PageSet ramPages;
        private boolean missingSent;

        private void announce(VmDescriptor descriptor) {
            if (descriptor.memoryLayout().pageSpan() <= MAX_SESSION_SPAN) {
                announced = descriptor;
                ramPages = null;
            }
        }

        MemoryLayout layout() {
            return announced != null ? announced.memoryLayout() : WellFormedFrames.LAYOUTS.get(script.layoutIndex());
        }

        int vcpuCount() {
            if (announced != null) {
                return announced.vcpuCount();
            }
            return (script.config() & FuzzScript.TWO_VCPUS) != 0 ? 2 : 1;
        }

        List<String> deviceIds() {
            return announced != null ? announced.deviceIds() : List.of(InMemoryVm.WORKLOAD_DEVICE_ID);
        }

        boolean missingSent() {
            return missingSent;
        }

        boolean holdsSecret() {
            return secret != null;
        }

        /** @return the RAM pages of {@link #layout()} */
        PageSet ramPages() {
            if (ramPages == null) {
                ramPages = PageSet.allOf(layout());
            }
            return ramPages;
        }

        /** @return a copy of {@code page} as the target holds it, or zeros if there is no such page there */
        byte[] targetPage(long page, int pageSize) {
            InMemoryVm vm = target.get();
            MemoryLayout layout = vm == null ? null : vm.memory().layout();
            if (layout == null || layout.pageSizeBytes() != pageSize || !layout.contains(page)) {
                return new byte[pageSize];
            }
            return vm.memory().page(page);
        }
    }
}
