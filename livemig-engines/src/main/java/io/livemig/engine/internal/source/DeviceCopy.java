package io.livemig.engine.internal.source;

import io.livemig.api.MigrationException;
import io.livemig.engine.internal.wire.DeviceFrames;
import io.livemig.engine.internal.wire.FrameWriter;
import io.livemig.engine.internal.wire.SwitchoverFrames;
import io.livemig.spi.DeviceMigration;
import io.livemig.spi.DeviceState;
import io.livemig.spi.MigratableDevice;
import io.livemig.spi.VmOperationException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Moves the devices' state, as {@code io.livemig.spi.DeviceMigration} describes: devices that
 * support {@link DeviceState#PRE_COPY} are read during the live copy, round after round, and what
 * they still hold counts in the expected downtime; at the pause every device that migrates by its
 * data stream goes to a P2P state first (those that support one), then to
 * {@link DeviceState#STOP_COPY}, before the last collect of the dirty log (no DMA after it); its
 * stream is then read to the end, and it goes to {@link DeviceState#STOP}; the others save their
 * state whole. If the migration fails before the commit, every device is taken back to
 * {@link DeviceState#RUNNING}.
 *
 * <p>The migration's thread only.
 */
final class DeviceCopy {

    private static final Logger LOG = LoggerFactory.getLogger(DeviceCopy.class);
    /** The most data bytes in one DEVICE_DATA frame. */
    private static final int CHUNK_BYTES = 1 << 20;

    private final List<MigratableDevice> devices;
    private final SourceLink link;
    private ByteBuffer chunk;
    /** Builds the DEVICE_DATA frames, as large as the agreed frame limit. */
    private FrameWriter writer;

    DeviceCopy(List<MigratableDevice> devices, SourceLink link) {
        this.devices = List.copyOf(devices);
        this.link = link;
    }

    /** Starts the live copy of the devices that support pre-copy: RUNNING to PRE_COPY. */
    void startLive() {
        for (MigratableDevice d : devices) {
            d.migration().filter(m -> m.supportedStates().contains(DeviceState.PRE_COPY))
                    .ifPresent(m -> m.transition(DeviceState.PRE_COPY));
        }
    }

    /**
     * Once the frame limit is agreed, before the live copy: makes the buffers of the DEVICE_DATA
     * frames if a device migrates by its data stream. Those buffers take the whole frame limit
     * (16 MiB of direct memory): made at the switchover's first save they were downtime, 8-31 ms
     * of it measured on a virtualised host, and a VM without such a device needs none.
     */
    void prepare() {
        if (devices.stream().anyMatch(d -> d.migration().isPresent())) {
            sizeFrames();
        }
    }

    /** @return whether the DEVICE_DATA frames' buffers are made */
    boolean framesPrepared() {
        return writer != null;
    }

    /** Sizes the frames to the agreed limit, once it is known. */
    private void sizeFrames() {
        if (writer == null) {
            int longestId = devices.stream().mapToInt(d -> DeviceFrames.headerBytes(d.id())).max().orElse(0);
            writer = new FrameWriter(link.frameLimitBytes());
            chunk = ByteBuffer.allocate(Math.max(1, Math.min(CHUNK_BYTES, writer.payloadRoom() - longestId)));
        }
    }

    /**
     * During the live copy: sends what every pre-copying device has ready now.
     *
     * @return the frame bytes sent
     */
    long sendLive() throws MigrationException {
        long before = link.bytesSent();
        for (MigratableDevice d : devices) {
            DeviceMigration m = d.migration().orElse(null);
            if (m != null && m.state() == DeviceState.PRE_COPY) {
                // At most what it held as the round began: a device that changes its state faster
                // than the link carries it would otherwise keep the round going for ever.
                drain(d.id(), m, Math.max(1, m.pendingBytes()));
            }
        }
        return link.bytesSent() - before;
    }

    /** @return the bytes the devices still hold, for the expected downtime */
    long pendingBytes() {
        long pending = 0;
        for (MigratableDevice d : devices) {
            DeviceMigration m = d.migration().orElse(null);
            if (m != null) {
                pending += Math.max(0, m.pendingBytes());
            }
        }
        return pending;
    }

    /**
     * At the pause, right after the vCPUs stopped and before the last collect of the dirty log:
     * stops every device that migrates by its data stream (P2P states first), into STOP_COPY, so
     * that none writes guest memory by DMA after the pages it wrote were collected.
     */
    void stop() {
        // No device may start DMA towards a peer that is already stopped: quiesce P2P everywhere first.
        for (MigratableDevice d : devices) {
            d.migration().ifPresent(m -> {
                if (m.supportedStates().contains(DeviceState.RUNNING_P2P)) {
                    m.transition(m.state() == DeviceState.PRE_COPY && m.supportedStates().contains(
                            DeviceState.PRE_COPY_P2P) ? DeviceState.PRE_COPY_P2P : DeviceState.RUNNING_P2P);
                }
            });
        }
        for (MigratableDevice d : devices) {
            d.migration().ifPresent(m -> m.transition(DeviceState.STOP_COPY));
        }
    }

    /**
     * In the downtime, every device stopped ({@link #stop()}): sends the data streams to their ends
     * (the devices then go to STOP) and returns the whole states of the others.
     *
     * @return the DEVICE_STATE frames of the devices that save their state whole
     */
    List<SwitchoverFrames.DeviceStateFrame> save() throws MigrationException {
        List<SwitchoverFrames.DeviceStateFrame> whole = new ArrayList<>();
        for (MigratableDevice d : devices) {
            DeviceMigration m = d.migration().orElse(null);
            if (m == null) {
                whole.add(new SwitchoverFrames.DeviceStateFrame(d.id(), d.saveState()));
                continue;
            }
            drain(d.id(), m, Long.MAX_VALUE);
            m.transition(DeviceState.STOP);
        }
        return whole;
    }

    /**
     * Reads the device's stream into DEVICE_DATA frames: in pre-copy until nothing is ready or
     * {@code budget} bytes went, in stop-copy (an unlimited budget) to its end, which the last frame
     * says.
     *
     * @return the data bytes sent
     */
    private long drain(String id, DeviceMigration m, long budget) throws MigrationException {
        sizeFrames();
        boolean toEnd = budget == Long.MAX_VALUE;
        long sent = 0;
        while (sent < budget) {
            chunk.clear();
            int n = m.read(chunk);
            if (n < 0) {
                if (toEnd) {
                    link.send(new DeviceFrames.DeviceData(id, true, new byte[0]).write(writer));
                }
                return sent;
            }
            if (n == 0) {
                if (toEnd) {
                    throw new VmOperationException("device " + id + " gave no data in STOP_COPY without ending "
                            + "its stream");
                }
                return sent;
            }
            byte[] data = Arrays.copyOf(chunk.array(), chunk.position());
            // Paced as pages are: in the live copy it shares the link under the same cap.
            link.sendPaced(new DeviceFrames.DeviceData(id, false, data).write(writer));
            sent += data.length;
            link.tick();
        }
        return sent;
    }

    /**
     * The migration failed before the commit: every device that migrates by its data stream goes
     * back to RUNNING. Best effort: a device that cannot is logged.
     */
    void abort() {
        for (MigratableDevice d : devices) {
            d.migration().ifPresent(m -> {
                try {
                    if (m.state() != DeviceState.RUNNING && m.state() != DeviceState.ERROR) {
                        m.transition(DeviceState.RUNNING);
                    }
                } catch (RuntimeException e) {
                    LOG.warn("could not take device {} back to RUNNING (it is {})", d.id(), m.state(), e);
                }
            });
        }
    }
}
