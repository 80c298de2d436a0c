package io.livemig.engine.internal.destination;

import io.livemig.api.MigrationException;
import io.livemig.api.ProtocolException;
import io.livemig.api.ProtocolException.Kind;
import io.livemig.api.SourceVmState;
import io.livemig.engine.internal.wire.SwitchoverFrames;
import io.livemig.engine.internal.wire.WireException;
import io.livemig.spi.MigratableDevice;
import io.livemig.spi.MigrationTarget;
import io.livemig.spi.VcpuState;
import io.livemig.spi.VmDescriptor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Collects the vCPU and device state the source sends in stop-copy (each at most once, each for a
 * vCPU or device SETUP announced) and, on COMMIT, checks that every one is present and loads them
 * into the target.
 *
 * <p>The receiving thread only.
 */
final class StateLoader {

    private static final Logger LOG = LoggerFactory.getLogger(StateLoader.class);

    private final VmDescriptor descriptor;
    private final DestinationContext context;
    private final Map<Integer, VcpuState> vcpuStates = new HashMap<>();
    private final Map<String, byte[]> deviceStates = new HashMap<>();

    StateLoader(VmDescriptor descriptor, DestinationContext context) {
        this.descriptor = descriptor;
        this.context = context;
    }

    /** @throws WireException for a second state of the same vCPU */
    void vcpu(SwitchoverFrames.VcpuStateFrame frame) throws WireException {
        VcpuState s = frame.state();
        if (vcpuStates.putIfAbsent(s.index(), s) != null) {
            throw new WireException(Kind.UNEXPECTED, "second state for vCPU " + s.index());
        }
    }

    /** @throws WireException for a device SETUP did not announce, or a second state of one */
    void device(SwitchoverFrames.DeviceStateFrame frame) throws WireException {
        if (!descriptor.deviceIds().contains(frame.id())) {
            throw new WireException(Kind.UNEXPECTED, "state for device '" + frame.id() + "', which SETUP did not announce");
        }
        if (deviceStates.putIfAbsent(frame.id(), frame.data()) != null) {
            throw new WireException(Kind.UNEXPECTED, "second state for device '" + frame.id() + "'");
        }
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
        if (commit.deviceStates() != descriptor.deviceIds().size() || deviceStates.size() != descriptor.deviceIds().size()) {
            throw new WireException(Kind.INCONSISTENT_LENGTH, "COMMIT with " + deviceStates.size()
                    + " device states (frame says " + commit.deviceStates() + "), SETUP announced "
                    + descriptor.deviceIds());
        }
        try {
            List<VcpuState> ordered = new ArrayList<>();
            for (int i = 0; i < descriptor.vcpuCount(); i++) {
                ordered.add(vcpuStates.get(i));
            }
            long t0 = System.nanoTime();
            target.vcpus().loadState(ordered);
            LOG.debug("COMMIT: vCPU state loaded in {} µs", (System.nanoTime() - t0) / 1000);
            for (MigratableDevice device : target.devices()) {
                byte[] state = deviceStates.get(device.id());
                if (state == null) {
                    throw new IllegalArgumentException("no state for the target's device '" + device.id() + "'");
                }
                device.loadState(state);
            }
        } catch (IllegalArgumentException e) {
            throw new ProtocolException(Kind.UNEXPECTED, "the target refused the state: " + e.getMessage(),
                    context.phase(), SourceVmState.UNKNOWN, e);
        } catch (RuntimeException e) {
            throw new MigrationException("loading state into the target failed: " + e.getMessage(), context.phase(),
                    SourceVmState.UNKNOWN, e);
        }
    }
}
