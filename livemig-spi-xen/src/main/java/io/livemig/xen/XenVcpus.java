package io.livemig.xen;

import io.livemig.spi.VcpuControl;
import io.livemig.spi.VcpuState;
import io.livemig.spi.VcpuThrottle;
import io.livemig.spi.VmOperationException;
import io.livemig.xen.internal.HvmState;
import io.livemig.xen.internal.XenAbi;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * A domain's vCPUs: pause and resume through {@code xc_domain_pause} / {@code xc_domain_unpause},
 * and their state as the domain's HVM context ({@code xc_domain_hvm_getcontext} /
 * {@code xc_domain_hvm_setcontext}) with the HVM parameters Xen's own save code carries, in
 * format {@value HvmState#FORMAT} (see {@link HvmState}: the context travels whole in vCPU 0's
 * state; the engines treat it as opaque bytes).
 *
 * <p><b>Pause references.</b> Xen counts pauses. This object pauses at most once and unpauses
 * only what it paused: a domain someone else paused stays paused after {@link #resume()}. A
 * new target starts paused by Xen on this object's behalf, and {@link #resume()} drops that.
 *
 * <p><b>No throttle.</b> Xen has nothing like KVM auto-converge's vCPU throttle: neither
 * libxenctrl nor libxl slows a guest for migration, and Xen's own live migration falls back to
 * a final stop-and-copy after a bounded number of rounds instead. A scheduler cap (credit and
 * credit2's {@code cap}) could approximate one, but it belongs to the domain's owner, depends
 * on the cpupool's scheduler and would outlive a failed migration, so {@link #throttle()} is
 * empty and the engines' escalation skips auto-converge.
 *
 * <p>Thread-safe: every method is serialized on this object.
 */
final class XenVcpus implements VcpuControl {

    private final XenHost host;
    private final int domid;
    private final int vcpuCount;
    private boolean pausedByUs;
    private boolean everResumed;

    /** @param pausedByUs whether the domain holds a pause reference that belongs to this object */
    XenVcpus(XenHost host, int domid, int vcpuCount, boolean pausedByUs) {
        this.host = host;
        this.domid = domid;
        this.vcpuCount = vcpuCount;
        this.pausedByUs = pausedByUs;
    }

    @Override
    public int vcpuCount() {
        return vcpuCount;
    }

    @Override
    public synchronized void pause() {
        if (!pausedByUs) {
            try {
                host.ctrl().domainPause(host.xch(), domid);
            } catch (XenException e) {
                throw new VmOperationException("pausing Xen domain " + domid + " failed: " + e.getMessage(), e);
            }
            pausedByUs = true;
        }
    }

    @Override
    public synchronized void resume() {
        if (pausedByUs) {
            try {
                host.ctrl().domainUnpause(host.xch(), domid);
            } catch (XenException e) {
                throw new VmOperationException("unpausing Xen domain " + domid + " failed: " + e.getMessage(), e);
            }
            pausedByUs = false;
            everResumed = true;
        }
    }

    /** @return whether {@link #resume()} ever unpaused the domain through this object */
    synchronized boolean everResumed() {
        return everResumed;
    }

    @Override
    public synchronized boolean isPaused() {
        return pausedByUs;
    }

    @Override
    public synchronized List<VcpuState> saveState() {
        requirePaused();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment scratch = arena.allocate(JAVA_LONG);
            int[] migrated = XenAbi.migratedHvmParams();
            long[] pairs = new long[2 * migrated.length];
            int n = 0;
            for (int param : migrated) {
                long value = host.ctrl().hvmParamGet(host.xch(), domid, param, scratch);
                if (value != 0) {
                    pairs[n++] = param;
                    pairs[n++] = value;
                }
            }
            int size = host.ctrl().domainHvmGetcontext(host.xch(), domid, MemorySegment.NULL);
            MemorySegment buffer = arena.allocate(size, 8);
            int used = host.ctrl().domainHvmGetcontext(host.xch(), domid, buffer);
            byte[] context = buffer.asSlice(0, used).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
            List<VcpuState> states = new ArrayList<>(vcpuCount);
            states.add(new VcpuState(0, HvmState.FORMAT,
                    new HvmState(java.util.Arrays.copyOf(pairs, n), context).encode()));
            for (int i = 1; i < vcpuCount; i++) {
                states.add(new VcpuState(i, HvmState.FORMAT, new byte[0]));
            }
            return states;
        } catch (XenException e) {
            throw new VmOperationException("saving the HVM state of Xen domain " + domid + " failed: "
                    + e.getMessage(), e);
        }
    }

    @Override
    public synchronized void loadState(List<VcpuState> states) {
        requirePaused();
        if (states.size() != vcpuCount) {
            throw new IllegalArgumentException(states.size() + " vCPU states for " + vcpuCount + " vCPUs");
        }
        HvmState state = null;
        for (VcpuState s : states) {
            if (!s.format().equals(HvmState.FORMAT)) {
                throw new IllegalArgumentException("vCPU state format " + s.format() + ", Xen needs " + HvmState.FORMAT);
            }
            if (s.index() >= vcpuCount) {
                throw new IllegalArgumentException("state for vCPU " + s.index() + " of " + vcpuCount);
            }
            if (s.index() == 0) {
                state = HvmState.decode(s.data());
            } else if (s.sizeBytes() != 0) {
                throw new IllegalArgumentException("vCPU " + s.index() + " carries " + s.sizeBytes()
                        + " bytes; in " + HvmState.FORMAT + " the domain's whole context travels with vCPU 0");
            }
        }
        if (state == null) {
            throw new IllegalArgumentException("no state for vCPU 0, which carries the domain's HVM context");
        }
        try (Arena arena = Arena.ofConfined()) {
            long[] params = state.params();
            for (int i = 0; i < params.length; i += 2) {
                host.ctrl().hvmParamSet(host.xch(), domid, (int) params[i], params[i + 1]);
            }
            byte[] context = state.context();
            MemorySegment buffer = arena.allocate(Math.max(1, context.length), 8).asSlice(0, context.length);
            buffer.copyFrom(MemorySegment.ofArray(context));
            host.ctrl().domainHvmSetcontext(host.xch(), domid, buffer);
        } catch (XenException e) {
            throw new VmOperationException("loading the HVM state into Xen domain " + domid + " failed: "
                    + e.getMessage(), e);
        }
    }

    private void requirePaused() {
        if (!pausedByUs) {
            throw new IllegalStateException("the domain must be paused");
        }
    }

    /** @return empty: Xen offers no vCPU throttle for migration (see the class comment) */
    @Override
    public Optional<VcpuThrottle> throttle() {
        return Optional.empty();
    }
}
