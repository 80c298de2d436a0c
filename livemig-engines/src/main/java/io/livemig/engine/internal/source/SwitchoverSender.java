package io.livemig.engine.internal.source;

import io.livemig.api.MigrationException;
import io.livemig.engine.internal.HostClock;
import io.livemig.engine.internal.wire.FrameType;
import io.livemig.engine.internal.wire.PageBitmap;
import io.livemig.engine.internal.wire.SwitchoverFrames;
import io.livemig.spi.MigratableVm;
import io.livemig.spi.PageSet;
import io.livemig.spi.VcpuState;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.List;

/**
 * The source's side of the switchover (docs/protocol.md, section 4): pauses the VM and says so
 * (SWITCHOVER), then, once the strategy has sent the rest, saves and sends the vCPU and device
 * state and COMMIT, and waits until the destination says it resumed. Moves the
 * {@link SourceContext} through STOP_COPY, COMMITTED and HANDED_OVER (or POST_COPY), stamping
 * each step of the downtime.
 *
 * <p>The migration's thread only.
 */
final class SwitchoverSender {

    private static final Logger LOG = LoggerFactory.getLogger(SwitchoverSender.class);

    private final MigratableVm vm;
    private final SourceLink link;
    private final SourceContext context;
    private final SourceRecorder recorder;
    private final DeviceCopy devices;
    /** This host's clock token for the migration, made before any downtime. */
    private final byte[] hostToken;
    /** The vCPU states sent ahead of the last pages ({@link #sendVcpuStates()}), or null. */
    private List<VcpuState> sentVcpuStates;

    SwitchoverSender(MigratableVm vm, SourceLink link, SourceContext context, SourceRecorder recorder,
                     DeviceCopy devices, byte[] sessionId, boolean wallClock) {
        this.devices = devices;
        this.hostToken = HostClock.token(sessionId, wallClock);
        this.vm = vm;
        this.link = link;
        this.context = context;
        this.recorder = recorder;
    }

    /**
     * Pauses the VM and tells the destination the stop-copy phase began.
     *
     * @param expected       the downtime predicted for the rest
     * @param remainingBytes the bytes predicted to go
     */
    void pause(Duration expected, long remainingBytes) throws MigrationException {
        link.checkCancelled();
        context.pauseRequested();
        vm.vcpus().pause();
        context.moveTo(SourceState.STOP_COPY);
        // Before the last collect: a device stopped now writes no page after it.
        devices.stop();
        recorder.switchoverStarted(remainingBytes, expected);
        link.send(new SwitchoverFrames.Switchover());
    }

    /**
     * Stop-copy, before the last pages: saves and sends the vCPU states (once), so that the
     * destination loads them while those pages are still on their way instead of after COMMIT.
     * The destination takes VCPU_STATE and PAGES in any order once stopped (docs/protocol.md,
     * section 4). The VM must be paused.
     */
    void sendVcpuStates() throws MigrationException {
        if (sentVcpuStates != null) {
            return;
        }
        List<VcpuState> states = vm.vcpus().saveState();
        send(states);
        sentVcpuStates = states;
    }

    private void send(List<VcpuState> states) throws MigrationException {
        for (VcpuState state : states) {
            link.send(new SwitchoverFrames.VcpuStateFrame(state));
        }
    }

    /**
     * Sends the vCPU state (unless it went ahead of the last pages), the device state and COMMIT,
     * then waits until the destination says it resumed. The VM must be paused with every page
     * sent. After COMMIT went out, cancellation no longer applies.
     */
    void commit() throws MigrationException {
        commit(false);
        context.moveTo(SourceState.HANDED_OVER);
    }

    /**
     * Post-copy: announces the pages still to come (MISSING_PAGES), then commits as
     * {@link #commit()} does, except that the destination resumes before those pages arrive.
     * From then on the VM's state is split between the hosts until every page has arrived.
     */
    void commitPostcopy(PageSet missing) throws MigrationException {
        link.checkCancelled();
        context.finalSendStarted();
        // Ahead of MISSING_PAGES: the destination loads them while the bitmap arrives.
        sendVcpuStates();
        for (PageBitmap chunk : PageBitmap.chunks(FrameType.MISSING_PAGES, missing, link.frameLimitBytes())) {
            link.send(chunk);
        }
        commit(true);
        link.usePostcopyBandwidth();
        context.moveTo(SourceState.POST_COPY);
        recorder.postcopyStarted(missing.cardinality());
    }

    /**
     * Post-copy, when the link broke before RESUMED arrived and the destination said, when asked,
     * that it resumed: the VM is split between the hosts from here on, as after RESUMED.
     */
    void resumedUnconfirmed(PageSet missing) {
        context.resumedAt(context.now());
        link.usePostcopyBandwidth();
        context.moveTo(SourceState.POST_COPY);
        recorder.postcopyStarted(missing.cardinality());
    }

    private void commit(boolean postcopy) throws MigrationException {
        link.checkCancelled();
        context.finalSendStarted();
        context.stateSaveStarted();
        boolean sentAhead = sentVcpuStates != null;
        List<VcpuState> states = sentAhead ? sentVcpuStates : vm.vcpus().saveState();
        sentVcpuStates = states; // once: a later sendVcpuStates() sends nothing
        int deviceCount = vm.devices().size();
        // Devices that migrate by their data stream send it now, to its end; the others' whole
        // states go after the vCPUs'.
        List<SwitchoverFrames.DeviceStateFrame> deviceStates = devices.save();
        context.stateSaved();
        if (LOG.isDebugEnabled()) {
            LOG.debug("switchover: state saved {} µs after the pause", context.nanosSincePause() / 1000);
        }
        if (!sentAhead) {
            send(states);
        }
        for (SwitchoverFrames.DeviceStateFrame state : deviceStates) {
            link.send(state);
        }
        link.checkCancelled();
        context.moveTo(SourceState.COMMITTED);
        link.send(new SwitchoverFrames.Commit(states.size(), deviceCount, postcopy));
        SourceLink.Arrival<SwitchoverFrames.Resumed> resumed = link.await(SwitchoverFrames.Resumed.class);
        context.resumedAt(resumed.arrivalNanos());
        if (HostClock.sameClock(hostToken, resumed.message().hostToken())) {
            context.destinationResumedAt(resumed.message().resumedAtNanos());
        }
    }
}
