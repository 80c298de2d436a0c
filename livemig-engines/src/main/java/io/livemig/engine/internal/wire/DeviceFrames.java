package io.livemig.engine.internal.wire;

import io.livemig.api.ProtocolException.Kind;

import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Objects;

/**
 * The frame that carries a device's migration data stream (docs/protocol.md, section 8): the
 * bytes a device gives while saving ({@code io.livemig.spi.DeviceMigration}), in order, during
 * the live copy (its pre-copy data) and in the downtime (its stop-copy data, the last frame
 * flagged {@link #FLAG_END}). A DEVICE_DATA frame is {@code id:string flags:u8 length:u32} and
 * exactly {@code length} bytes.
 */
public final class DeviceFrames {

    /** The device's stream ends with this frame: its state is complete. */
    public static final int FLAG_END = 1;

    private DeviceFrames() {
    }

    /**
     * @param id the device's id
     * @return the bytes of a DEVICE_DATA frame's fields before the data
     */
    public static int headerBytes(String id) {
        return FrameWriter.stringBytes(id) + 1 + 4;
    }

    /**
     * DEVICE_DATA: the next part of a device's data stream.
     *
     * @param id   the device's id, as SETUP announced it
     * @param end  whether the stream ends here
     * @param data the bytes, possibly none (an empty last frame)
     */
    public record DeviceData(String id, boolean end, byte[] data) implements Message {
        /** @throws NullPointerException for null fields */
        public DeviceData {
            Objects.requireNonNull(id, "id");
            Objects.requireNonNull(data, "data");
        }

        @Override
        public FrameType type() {
            return FrameType.DEVICE_DATA;
        }

        /** @throws IllegalArgumentException if the data does not fit in one frame */
        @Override
        public ByteBuffer write(FrameWriter w) {
            ByteBuffer b = w.begin(FrameType.DEVICE_DATA);
            FrameWriter.putString(b, id);
            if (data.length > w.payloadRoom() - 5) {
                throw new IllegalArgumentException("data of device " + id + " (" + data.length
                        + " bytes) does not fit in a frame");
            }
            b.put((byte) (end ? FLAG_END : 0)).putInt(data.length).put(data);
            return w.finish();
        }

        /** @throws WireException for a bad id, unknown flags or a length that is not the rest of the frame */
        public static DeviceData read(Frame f) throws WireException {
            String id = f.string("id");
            int flags = f.u8("flags");
            if ((flags & ~FLAG_END) != 0) {
                throw new WireException(Kind.UNEXPECTED, "unknown DEVICE_DATA flags " + flags);
            }
            int length = f.u32In("length", 0, f.remaining() - Integer.BYTES);
            byte[] data = f.bytes("data", length);
            f.expectEnd();
            return new DeviceData(id, (flags & FLAG_END) != 0, data);
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof DeviceData other && other.id.equals(id) && other.end == end
                    && Arrays.equals(other.data, data);
        }

        @Override
        public int hashCode() {
            return (id.hashCode() * 31 + Boolean.hashCode(end)) * 31 + Arrays.hashCode(data);
        }

        @Override
        public String toString() {
            return "DeviceData[id=" + id + ", end=" + end + ", " + data.length + " bytes]";
        }
    }
}
