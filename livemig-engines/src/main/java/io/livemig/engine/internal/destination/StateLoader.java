package io.livemig.engine.internal.destination;

import io.livemig.api.MigrationException;
import io.livemig.api.ProtocolException;
import io.livemig.api.ProtocolException.Kind;
import io.livemig.api.SourceVmState;
import io.livemig.engine.internal.wire.DeviceFrames;
import io.livemig.engine.internal.wire.SwitchoverFrames;
import io.livemig.engine.internal.wire.WireException;
import io.livemig.spi.DeviceMigration;
import io.livemig.spi.DeviceState;
import io.livemig.spi.MigratableDevice;
import io.livemig.spi.MigrationTarget;
import io.livemig.spi.VcpuState;
import io.livemig.spi.VmDescriptor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Collects the vCPU and device state the source sends in stop-copy and, on COMMIT, checks that
 * every one is present and loads them into the target. A target device that migrates by its data
 * stream ({@link MigratableDevice#migration()}) is put in RESUMING as the target is set up, takes
 * its DEVICE_DATA frames as they come (during the live copy too, unbuffered: the device checks
 * its own stream), and is stopped at its stream's end, which is its state's arrival; before the
 * vCPUs resume, every such device is started, those with a P2P state into it first. Each state is accepted at most once, only
 * for a vCPU index and a device id the target has (which SETUP announced: the target was checked
 * against it before READY), and a vCPU state only in the target's format; all of them together
 * may buffer at most {@code ReceiveLimits.maxStateBytes}, refused at the frame that would cross it.
 *
 * <p>The receiving thread only.
 */
final class StateLoader {

    private static final Logger LOG = LoggerFactory.getLogger(StateLoader.class);

    private final VmDescriptor descriptor;
    private final int targetVcpus;
    private final String targetFormat;
    private final Set<String> targetDevices = new HashSet<>();
    private final long maxStateBytes;
    private final DestinationContext context;
    private final Map<Integer, VcpuState> vcpuStates = new HashMap<>();
    private final Map<String, byte[]> deviceStates = new HashMap<>();
    /** The target's devices that migrate by their data stream, by id. */
    private final Map<String, DeviceMigration> streamed = new HashMap<>();
    /** The ids of those whose stream ended. */
    private final Set<String> ended = new HashSet<>();
    private long bufferedBytes;
    /** Whether the vCPU states were loaded into the target, ahead of COMMIT or at it. */
    private boolean vcpusLoaded;

    /**
     * @param descriptor    what SETUP announced
     * @param target        the target the states are for
     * @param maxStateBytes the most vCPU and device state bytes buffered, all together
     * @param context       the receiver's state, for failures
     */
    StateLoader(VmDescriptor descriptor, MigrationTarget target, long maxStateBytes, DestinationContext context) {
        this.descriptor = descriptor;
        this.targetVcpus = target.descriptor().vcpuCount();
        this.targetFormat = target.descriptor().vcpuStateFormat();
        for (MigratableDevice device : target.devices()) {
            targetDevices.add(device.id());
            device.migration().ifPresent(m -> streamed.put(device.id(), m));
        }
        this.maxStateBytes = maxStateBytes;
        this.context = context;
    }

    /**
     * Puts every device that migrates by its data stream in RESUMING.
     *
     * @throws MigrationException if a device cannot resume
     */
    void prepareDevices() throws MigrationException {
        for (Map.Entry<String, DeviceMigration> e : streamed.entrySet()) {
            try {
                e.getValue().transition(DeviceState.RESUMING);
            } catch (RuntimeException failure) {
                throw new MigrationException("device '" + e.getKey() + "' cannot take a migration: "
                        + failure.getMessage(), context.phase(), SourceVmState.UNKNOWN, failure);
            }
        }
    }

    /**
     * Writes the next part of a device's data stream into it; at the stream's end, stops the
     * device, which then checks the whole state.
     *
     * @throws WireException      for a device the target does not have, one that takes its state
     *                            whole, or data after the end
     * @throws MigrationException if the device refuses the data or finds its state incomplete
     */
    void deviceData(DeviceFrames.DeviceData frame) throws WireException, MigrationException {
        DeviceMigration m = streamed.get(frame.id());
        if (m == null) {
            throw new WireException(Kind.UNEXPECTED, "DEVICE_DATA for device '" + frame.id() + "', "
                    + (targetDevices.contains(frame.id()) ? "which takes its state whole (DEVICE_STATE) here"
                    : "which the target does not have"));
        }
        if (ended.contains(frame.id())) {
            throw new WireException(Kind.UNEXPECTED, "DEVICE_DATA for device '" + frame.id() + "' after its end");
        }
        try {
            if (frame.data().length > 0) {
                m.write(java.nio.ByteBuffer.wrap(frame.data()));
            }
            if (frame.end()) {
                m.transition(DeviceState.STOP);
                ended.add(frame.id());
            }
        } catch (IllegalArgumentException e) {
            throw new ProtocolException(Kind.UNEXPECTED, "device '" + frame.id() + "' refused its data: "
                    + e.getMessage(), context.phase(), SourceVmState.UNKNOWN, e);
        } catch (RuntimeException e) {
            throw new MigrationException("device '" + frame.id() + "' failed taking its data: " + e.getMessage(),
                    context.phase(), SourceVmState.UNKNOWN, e);
        }
    }

    /**
     * Before the vCPUs resume: every device that migrated by its data stream is started, all into
     * RUNNING_P2P first where they support it (none starts DMA to a peer still stopped).
     *
     * @throws MigrationException if a device cannot start
     */
    void startDevices() throws MigrationException {
        try {
            for (DeviceMigration m : streamed.values()) {
                if (m.supportedStates().contains(DeviceState.RUNNING_P2P)) {
                    m.transition(DeviceState.RUNNING_P2P);
                }
            }
            for (DeviceMigration m : streamed.values()) {
                m.transition(DeviceState.RUNNING);
            }
        } catch (RuntimeException e) {
            throw new MigrationException("a device could not start: " + e.getMessage(), context.phase(),
                    SourceVmState.UNKNOWN, e);
        }
    }

    /**
     * @throws WireException for a vCPU the target does not have, a format it does not take, a
     *                       second state of the same vCPU, or state beyond the limit
     */
    void vcpu(SwitchoverFrames.VcpuStateFrame frame) throws WireException {
        VcpuState s = frame.state();
        if (s.index() >= targetVcpus) {
            throw new WireException(Kind.UNEXPECTED, "state for vCPU " + s.index() + ", but the target has "
                    + targetVcpus + " vCPUs");
        }
        if (!s.format().equals(targetFormat)) {
            throw new WireException(Kind.INCOMPATIBLE, "state for vCPU " + s.index() + " in format '" + s.format()
                    + "', but the target takes '" + targetFormat + "'");
        }
        if (vcpuStates.containsKey(s.index())) {
            throw new WireException(Kind.UNEXPECTED, "second state for vCPU " + s.index());
        }
        if (s.data().length > maxStateBytes - bufferedBytes) {
            throw overLimit("VCPU_STATE for vCPU " + s.index(), s.data().length);
        }
        bufferedBytes += s.data().length;
        vcpuStates.put(s.index(), s);
    }

    /**
     * @throws WireException for a device the target does not have, a second state of one, or
     *                       state beyond the limit
     */
    void device(SwitchoverFrames.DeviceStateFrame frame) throws WireException {
        if (streamed.containsKey(frame.id())) {
            throw new WireException(Kind.UNEXPECTED, "DEVICE_STATE for device '" + frame.id()
                    + "', which migrates by its data stream (DEVICE_DATA) here");
        }
        if (!targetDevices.contains(frame.id())) {
            throw new WireException(Kind.UNEXPECTED, "state for device '" + frame.id()
                    + "', which the target does not have (SETUP announced " + descriptor.deviceIds().size()
                    + " devices)");
        }
        if (deviceStates.containsKey(frame.id())) {
            throw new WireException(Kind.UNEXPECTED, "second state for device '" + frame.id() + "'");
        }
        if (frame.data().length > maxStateBytes - bufferedBytes) {
            throw overLimit("DEVICE_STATE for device '" + frame.id() + "'", frame.data().length);
        }
        bufferedBytes += frame.data().length;
        deviceStates.put(frame.id(), frame.data());
    }

    /** @return the refusal of {@code bytes} more state, which would cross the limit */
    private WireException overLimit(String what, int bytes) {
        return new WireException(Kind.INCOMPATIBLE, what + " of " + bytes + " bytes would bring the vCPU and "
                + "device state buffered to " + (bufferedBytes + bytes) + " bytes, above this destination's "
                + "limit of " + maxStateBytes + ": raise ReceiveLimits.maxStateBytes");
    }

    /**
     * Loads the vCPU states into {@code target} once every vCPU's has arrived, ahead of COMMIT:
     * the source sends them before its last pages, so they load while those pages travel. Not
     * for trace and replay, whose replayer runs the target's vCPUs until the log's end.
     *
     * @throws MigrationException if the target refuses a state or fails loading it
     */
    void loadVcpusWhenAllArrived(MigrationTarget target) throws MigrationException {
        if (!vcpusLoaded && vcpuStates.size() == descriptor.vcpuCount()) {
            loadVcpus(target);
        }
    }

    private void loadVcpus(MigrationTarget target) throws MigrationException {
        List<VcpuState> ordered = new ArrayList<>();
        for (int i = 0; i < descriptor.vcpuCount(); i++) {
            ordered.add(vcpuStates.get(i));
        }
        try {
            long t0 = System.nanoTime();
            target.vcpus().loadState(ordered);
            vcpusLoaded = true;
            LOG.debug("vCPU state loaded in {} µs", (System.nanoTime() - t0) / 1000);
        } catch (RuntimeException e) {
            throw refused(e);
        }
    }

    /** @return the failure a target's refusal or failure to load a state means */
    private MigrationException refused(RuntimeException e) {
        if (e instanceof IllegalArgumentException) {
            return new ProtocolException(Kind.UNEXPECTED, "the target refused the state: " + e.getMessage(),
                    context.phase(), SourceVmState.UNKNOWN, e);
        }
        return new MigrationException("loading state into the target failed: " + e.getMessage(), context.phase(),
                SourceVmState.UNKNOWN, e);
    }

    /**
     * Checks COMMIT's counts against what arrived and SETUP announced, and loads every state into
     * {@code target}.
     *
     * @throws WireException      if a state is missing or the counts disagree
     * @throws MigrationException if the target refuses a state or fails loading it
     */
    void load(SwitchoverFrames.Commit commit, MigrationTarget target) throws WireException, MigrationException {
        if (commit.vcpuStates() != descriptor.vcpuCount() || vcpuStates.size() != descriptor.vcpuCount()) {
            throw new WireException(Kind.INCONSISTENT_LENGTH, "COMMIT with " + vcpuStates.size()
                    + " vCPU states (frame says " + commit.vcpuStates() + "), the VM has " + descriptor.vcpuCount());
        }
        int arrived = deviceStates.size() + ended.size();
        if (commit.deviceStates() != descriptor.deviceIds().size() || arrived != descriptor.deviceIds().size()) {
            throw new WireException(Kind.INCONSISTENT_LENGTH, "COMMIT with " + arrived
                    + " device states (frame says " + commit.deviceStates() + "; " + ended.size()
                    + " of them data streams that ended), SETUP announced " + descriptor.deviceIds());
        }
        if (!vcpusLoaded) {
            loadVcpus(target);
        }
        try {
            for (MigratableDevice device : target.devices()) {
                if (streamed.containsKey(device.id())) {
                    continue;
                }
                byte[] state = deviceStates.get(device.id());
                if (state == null) {
                    throw new IllegalArgumentException("no state for the target's device '" + device.id() + "'");
                }
                device.loadState(state);
            }
        } catch (RuntimeException e) {
            throw refused(e);
        }
    }
}
