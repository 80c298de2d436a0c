package io.livemig.e2e.security;

import io.livemig.api.MigrationSecret;
import io.livemig.compress.PageEncoding;
import io.livemig.engine.internal.wire.ControlFrames;
import io.livemig.engine.internal.wire.Frame;
import io.livemig.engine.internal.wire.FrameType;
import io.livemig.engine.internal.wire.FrameWriter;
import io.livemig.engine.internal.wire.HandshakeFrames;
import io.livemig.engine.internal.wire.HandshakeFrames.Purpose;
import io.livemig.engine.internal.wire.HandshakeProof;
import io.livemig.engine.internal.wire.Message;
import io.livemig.engine.internal.wire.PageBatchWriter;
import io.livemig.engine.internal.wire.Wire;
import io.livemig.engine.internal.wire.WireException;
import io.livemig.transport.TcpChannel;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.security.SecureRandom;
import java.util.zip.CRC32C;

/**
 * A hostile peer that connects to a listening destination and speaks the wire protocol by hand,
 * with the engines' own frame records: a third party that says what it likes in HELLO, proves a
 * secret it does not hold, or replays what it recorded.
 *
 * <p>One thread at a time. Owns its channel.
 */
final class WirePeer implements AutoCloseable {

    /** The encodings every migration must offer. */
    static final long PLAIN = (1L << PageEncoding.ZERO.wireId()) | (1L << PageEncoding.RAW.wireId());

    private static final SecureRandom RANDOM = new SecureRandom();

    private final TcpChannel channel;
    private final FrameWriter writer = new FrameWriter(Wire.DEFAULT_MAX_FRAME_BYTES);
    private final ByteBuffer received = ByteBuffer.allocate(Wire.DEFAULT_MAX_FRAME_BYTES);
    private final CRC32C crc = new CRC32C();
    private byte[] nonce;

    private WirePeer(TcpChannel channel) {
        this.channel = channel;
    }

    /** Connects to {@code address}. */
    static WirePeer connect(InetSocketAddress address) throws IOException {
        return new WirePeer(Scene.connect(address));
    }

    /** @return {@code count} random bytes */
    static byte[] random(int count) {
        byte[] bytes = new byte[count];
        RANDOM.nextBytes(bytes);
        return bytes;
    }

    /** @return the HELLO in a recorded message (the first a source sends) */
    static HandshakeFrames.Hello helloIn(byte[] message) throws WireException {
        Frame frame = Frame.open(ByteBuffer.wrap(message), new CRC32C());
        return (HandshakeFrames.Hello) Message.read(frame, Message.Context.BEFORE_SETUP);
    }

    /** Sends HELLO for {@code purpose} naming {@code sessionId}, offering to prove a secret if {@code auth}. */
    void hello(Purpose purpose, byte[] sessionId, boolean auth) throws IOException {
        nonce = random(HandshakeFrames.NONCE_BYTES);
        send(new HandshakeFrames.Hello(Wire.VERSION, Wire.VERSION, Wire.DEFAULT_MAX_FRAME_BYTES, PLAIN, purpose, auth,
                sessionId, nonce));
    }

    /**
     * After {@link #hello} and the destination's HELLO_ACK: sends AUTH with a proof made with
     * {@code secret} over this connection's transcript, as the real source would with its own.
     */
    void proveWith(MigrationSecret secret, Purpose purpose, byte[] sessionId, HandshakeFrames.HelloAck ack)
            throws IOException {
        byte[] transcript = HandshakeProof.transcript(purpose, sessionId, nonce, ack.nonce(), ack.maxFrameBytes(),
                ack.encodings());
        send(new HandshakeFrames.Auth(HandshakeProof.source(secret, transcript)));
    }

    /** Sends {@code message} as one frame. */
    void send(Message message) throws IOException {
        channel.send(writer.write(message));
    }

    /**
     * Sends a PAGES frame with one raw page of {@code pageSize} bytes, every byte {@code fill}:
     * what an intruder would write into the guest if it were let in.
     */
    void sendPage(long page, int pageSize, byte fill) throws IOException {
        PageBatchWriter batch = new PageBatchWriter(Wire.DEFAULT_MAX_FRAME_BYTES);
        batch.begin(0);
        ByteBuffer payload = batch.openEntry(page, pageSize);
        for (int i = 0; i < pageSize; i++) {
            payload.put(fill);
        }
        batch.commitEntry(PageEncoding.RAW, pageSize);
        channel.send(batch.finish());
    }

    /** Sends bytes recorded elsewhere as one message. */
    void sendRaw(byte[] message) throws IOException {
        channel.send(ByteBuffer.wrap(message));
    }

    /**
     * @return the next frame from the destination that is not a KEEPALIVE, read into this peer's
     *         buffer (valid until the next read); null if the destination closed the connection
     */
    Message next() throws IOException, WireException {
        while (true) {
            received.clear();
            int length;
            try {
                length = channel.receive(received);
            } catch (IOException closed) {
                return null;
            }
            if (length < 0) {
                return null;
            }
            received.flip();
            Frame frame = Frame.open(received, crc);
            if (frame.type() != FrameType.KEEPALIVE) {
                return Message.read(frame, Message.Context.BEFORE_SETUP);
            }
        }
    }

    /**
     * Reads what the destination says until it closes the connection.
     *
     * @return the reason of the ABORT it sent before closing, or null if it closed without one
     */
    String refusal() throws IOException, WireException {
        String reason = null;
        Message m;
        while ((m = next()) != null) {
            if (m instanceof ControlFrames.Abort abort) {
                reason = abort.reason();
            }
        }
        return reason;
    }

    @Override
    public void close() {
        channel.close();
    }
}
