package io.livemig.engine.internal.wire;

import io.livemig.api.ProtocolException.Kind;
import io.livemig.spi.VcpuState;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Objects;

/**
 * The switchover's frames (docs/protocol.md, section 4):
 * <pre>
 * source                                   destination
 * pause VM; SWITCHOVER                  ─►  (stop-copy)
 * PAGES (the rest), MISSING_PAGES (post-copy)
 * VCPU_STATE × vcpuCount                ─►
 * DEVICE_STATE × deviceCount            ─►
 * COMMIT(vcpuStates, deviceStates)      ─►  check counts, load state, resume the VM
 *                                       ◄─  RESUMED
 * </pre>
 */
public final class SwitchoverFrames {

    private SwitchoverFrames() {
    }

    /** SWITCHOVER: the source VM is paused; stop-copy begins. Empty. */
    public record Switchover() implements Message.Empty {
        @Override
        public FrameType type() {
            return FrameType.SWITCHOVER;
        }
    }

    /**
     * VCPU_STATE: one vCPU's saved state.
     *
     * @param state the state, whose index must be below the announced vCPU count
     */
    public record VcpuStateFrame(VcpuState state) implements Message {
        /** @throws NullPointerException if state is null */
        public VcpuStateFrame {
            Objects.requireNonNull(state, "state");
        }

        @Override
        public FrameType type() {
            return FrameType.VCPU_STATE;
        }

        /** @throws IllegalArgumentException if the state does not fit in one frame */
        @Override
        public ByteBuffer write(FrameWriter w) {
            ByteBuffer b = w.begin(FrameType.VCPU_STATE).putInt(state.index());
            FrameWriter.putString(b, state.format());
            byte[] data = state.data();
            if (data.length > w.payloadRoom() - 4) {
                throw new IllegalArgumentException("vCPU state of " + data.length + " bytes does not fit in a frame");
            }
            b.putInt(data.length).put(data);
            return w.finish();
        }

        /**
         * @param vcpuCount the vCPUs announced in SETUP
         * @throws WireException for an index out of range, a blank format or a bad length
         */
        public static VcpuStateFrame read(Frame f, int vcpuCount) throws WireException {
            if (vcpuCount < 1) {
                throw new WireException(Kind.UNEXPECTED, "VCPU_STATE frame before SETUP");
            }
            int index = f.u32In("index", 0, vcpuCount - 1);
            String format = f.string("format");
            int length = f.u32In("length", 0, f.remaining() - Integer.BYTES); // at most what follows the field
            byte[] data = f.bytes("data", length);
            f.expectEnd();
            if (format.isBlank()) {
                throw new WireException(Kind.UNEXPECTED, "blank vCPU state format");
            }
            return new VcpuStateFrame(new VcpuState(index, format, data));
        }
    }

    /**
     * DEVICE_STATE: one device's saved state.
     *
     * @param id   the device's id, as announced in SETUP
     * @param data the state (not copied: the record owns the array)
     */
    public record DeviceStateFrame(String id, byte[] data) implements Message {
        /** @throws NullPointerException for null fields */
        public DeviceStateFrame {
            Objects.requireNonNull(id, "id");
            Objects.requireNonNull(data, "data");
        }

        @Override
        public FrameType type() {
            return FrameType.DEVICE_STATE;
        }

        /** @throws IllegalArgumentException if the state does not fit in one frame */
        @Override
        public ByteBuffer write(FrameWriter w) {
            ByteBuffer b = w.begin(FrameType.DEVICE_STATE);
            FrameWriter.putString(b, id);
            if (data.length > w.payloadRoom() - 4) {
                throw new IllegalArgumentException("state of device " + id + " (" + data.length
                        + " bytes) does not fit in a frame");
            }
            b.putInt(data.length).put(data);
            return w.finish();
        }

        /** @throws WireException for a bad id string or length */
        public static DeviceStateFrame read(Frame f) throws WireException {
            String id = f.string("id");
            int length = f.u32In("length", 0, f.remaining() - Integer.BYTES); // at most what follows the field
            byte[] data = f.bytes("data", length);
            f.expectEnd();
            return new DeviceStateFrame(id, data);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof DeviceStateFrame other && other.id.equals(id) && Arrays.equals(other.data, data);
        }

        @Override
        public int hashCode() {
            return id.hashCode() * 31 + Arrays.hashCode(data);
        }

        @Override
        public String toString() {
            return "DeviceStateFrame[id=" + id + ", " + data.length + " bytes]";
        }
    }

    /**
     * COMMIT: all state sent; load it and resume. Carries the counts, so nothing missing goes
     * unnoticed.
     *
     * @param vcpuStates   VCPU_STATE frames sent
     * @param deviceStates DEVICE_STATE frames sent
     * @param postcopy     whether the pages announced in MISSING_PAGES follow the resume
     */
    public record Commit(int vcpuStates, int deviceStates, boolean postcopy) implements Message {
        @Override
        public FrameType type() {
            return FrameType.COMMIT;
        }

        @Override
        public ByteBuffer write(FrameWriter w) {
            w.begin(FrameType.COMMIT).putInt(vcpuStates).putInt(deviceStates)
                    .putInt(postcopy ? Wire.COMMIT_FLAG_POSTCOPY : 0);
            return w.finish();
        }

        /** @throws WireException for counts out of range or unknown flags */
        public static Commit read(Frame f) throws WireException {
            int vcpus = f.u32In("vcpuStates", 0, Wire.MAX_VCPUS);
            int devices = f.u32In("deviceStates", 0, Wire.MAX_DEVICES);
            long flags = f.u32("flags");
            if ((flags & ~Wire.COMMIT_FLAG_POSTCOPY) != 0) {
                throw new WireException(Kind.UNEXPECTED, "unknown COMMIT flags " + flags);
            }
            f.expectEnd();
            return new Commit(vcpus, devices, flags != 0);
        }
    }

    /**
     * RESUMED: the target VM runs. Carries when it resumed, on the destination's monotonic clock,
     * and a token naming that clock's host for this migration (docs/protocol.md, section 4): a
     * source on the same host (same token) subtracts its pause instant and gets the blackout the
     * guest saw. A destination that cannot say sends a zero token.
     *
     * @param resumedAtNanos the destination's {@code System.nanoTime()} when its vCPUs resumed
     * @param hostToken      {@value #HOST_TOKEN_BYTES} bytes: a hash of the host's boot id and the
     *                       session id, or all zero
     */
    public record Resumed(long resumedAtNanos, byte[] hostToken) implements Message {
        /** Length of {@link #hostToken()}. */
        public static final int HOST_TOKEN_BYTES = 16;

        /** @throws IllegalArgumentException if the token is not {@value #HOST_TOKEN_BYTES} bytes */
        public Resumed {
            if (hostToken.length != HOST_TOKEN_BYTES) {
                throw new IllegalArgumentException("host token of " + hostToken.length + " bytes, need "
                        + HOST_TOKEN_BYTES);
            }
            hostToken = hostToken.clone();
        }

        @Override
        public byte[] hostToken() {
            return hostToken.clone();
        }

        @Override
        public FrameType type() {
            return FrameType.RESUMED;
        }

        @Override
        public ByteBuffer write(FrameWriter w) {
            w.begin(FrameType.RESUMED).putLong(resumedAtNanos).put(hostToken);
            return w.finish();
        }

        /** @throws WireException for a payload that is not exactly the instant and the token */
        public static Resumed read(Frame f) throws WireException {
            long at = f.u64("resumedAtNanos");
            byte[] token = f.bytes("hostToken", HOST_TOKEN_BYTES);
            f.expectEnd();
            return new Resumed(at, token);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Resumed r && r.resumedAtNanos == resumedAtNanos
                    && java.util.Arrays.equals(r.hostToken, hostToken);
        }

        @Override
        public int hashCode() {
            return Long.hashCode(resumedAtNanos) * 31 + java.util.Arrays.hashCode(hostToken);
        }

        @Override
        public String toString() {
            return "Resumed[resumedAtNanos=" + resumedAtNanos + "]";
        }
    }
}
