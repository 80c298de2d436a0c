package io.livemig.e2e.fuzz;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.util.Arrays;

/**
 * The fuzzer's input, read as a script for a source: a configuration byte, then records, each an
 * operation and a body that the {@link ScriptedSource} turns into one message on the forward
 * stream.
 *
 * <pre>
 * script = config:u8 record*
 * record = op:u8 length:u16 body[length]      (big-endian; the last body may be cut short)
 * </pre>
 *
 * The configuration byte: bit 0, both sides hold a migration secret; bits 1-2, the preamble the
 * script starts with before its records (0 none, 1 a valid HELLO and AUTH, 2 or 3 those and a
 * valid SETUP); bits 3-4, which of {@link WellFormedFrames#LAYOUTS} the preamble's SETUP announces;
 * bit 5, its verify flag; bit 6, its may-post-copy flag; bit 7, two vCPUs instead of one.
 *
 * <p>A record's operation is its byte modulo {@link Op#values()}'s length, so that every byte
 * means something. Records made from recorded migrations are {@link Op#FRAME}s: the frame without
 * its CRC, which the script appends, so that a mutation inside a frame still passes the CRC check
 * and reaches the frame's fields. Not thread-safe.
 */
final class FuzzScript {

    /** What a record asks for. */
    enum Op {
        /** The body is a frame without its CRC32C, which is appended. */
        FRAME,
        /** The body is sent as it is: any bytes, a bad CRC, a short frame. */
        RAW,
        /** AUTH with the right proof for this connection when the script holds the secret, else the body as proof. */
        AUTH,
        /** A well-formed PAGES frame for the announced layout, its entries drawn from the body. */
        PAGES,
        /** A VCPU_STATE or DEVICE_STATE frame. */
        STATE,
        /** A small control frame: SWITCHOVER, COMMIT, POSTCOPY_END, PING, DIGESTS_END, ABORT, ... */
        CONTROL,
        /** A MISSING_PAGES chunk over the announced layout. */
        MISSING,
        /** A DIGESTS frame over pages of the announced layout. */
        DIGESTS,
        /**
         * The link breaks: the receive fails with an IOException. If the body's first byte is odd,
         * the source comes back: the destination's reconnector gives it a new connection, which
         * plays the records that follow (a recovery or settle HELLO, say).
         */
        CUT
    }

    /** One record. @param op what to send @param body its bytes */
    record Step(Op op, byte[] body) {
        /** @return whether this is a cut after which the source comes back */
        boolean comesBack() {
            return op == Op.CUT && body.length > 0 && (body[0] & 1) != 0;
        }
    }

    static final int SECRET = 1;
    static final int PREAMBLE_SHIFT = 1;
    static final int LAYOUT_SHIFT = 3;
    static final int VERIFY = 1 << 5;
    static final int MAY_POSTCOPY = 1 << 6;
    static final int TWO_VCPUS = 1 << 7;

    private final ByteBuffer input;
    private final int config;

    FuzzScript(byte[] input) {
        this.input = ByteBuffer.wrap(input);
        this.config = this.input.hasRemaining() ? Byte.toUnsignedInt(this.input.get()) : 0;
    }

    int config() {
        return config;
    }

    boolean secret() {
        return (config & SECRET) != 0;
    }

    /** @return 0 no preamble, 1 HELLO (and AUTH), 2 those and SETUP */
    int preamble() {
        return Math.min(2, (config >> PREAMBLE_SHIFT) & 3);
    }

    int layoutIndex() {
        return (config >> LAYOUT_SHIFT) & 3;
    }

    /** @return whether a {@link Op#CUT} record of the script says the source comes back */
    boolean comesBack() {
        FuzzScript copy = new FuzzScript(input.array());
        for (Step step = copy.next(); step != null; step = copy.next()) {
            if (step.comesBack()) {
                return true;
            }
        }
        return false;
    }

    /** @return the next record, or null at the end of the input */
    Step next() {
        if (!input.hasRemaining()) {
            return null;
        }
        Op op = Op.values()[Byte.toUnsignedInt(input.get()) % Op.values().length];
        int length = 0;
        if (input.remaining() >= 2) {
            length = Short.toUnsignedInt(input.getShort());
        } else if (input.hasRemaining()) {
            length = Byte.toUnsignedInt(input.get());
        }
        byte[] body = new byte[Math.min(length, input.remaining())];
        input.get(body);
        return new Step(op, body);
    }

    /** Writes scripts: the seeds of the corpus. Not thread-safe. */
    static final class Writer {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();

        /** @param config the configuration byte (see {@link FuzzScript}) */
        Writer(int config) {
            out.write(config);
        }

        /** Adds a record. */
        Writer step(Op op, byte[] body) {
            if (body.length > 0xFFFF) {
                throw new IllegalArgumentException("a record body of " + body.length + " bytes");
            }
            out.write(op.ordinal());
            out.write(body.length >>> 8);
            out.write(body.length);
            out.writeBytes(body);
            return this;
        }

        /** Adds a whole frame, CRC included, as a {@link Op#FRAME} record (without the CRC: the script appends it). */
        Writer frame(ByteBuffer frame) {
            byte[] bytes = new byte[frame.remaining()];
            frame.duplicate().get(bytes);
            return step(Op.FRAME, Arrays.copyOf(bytes, bytes.length - 4));
        }

        /** Adds a message sent as it is. */
        Writer raw(ByteBuffer message) {
            byte[] bytes = new byte[message.remaining()];
            message.duplicate().get(bytes);
            return step(Op.RAW, bytes);
        }

        byte[] bytes() {
            return out.toByteArray();
        }
    }
}
