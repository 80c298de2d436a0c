package io.livemig.kvm;

import io.livemig.kvm.internal.KvmAbi;
import io.livemig.kvm.internal.Sys;
import io.livemig.spi.MigratableDevice;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.List;
import java.util.Objects;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The guest's time as KVM keeps it, migrated as a device ({@value #ID}): the VM-wide KVM clock
 * ({@code KVM_GET_CLOCK} / {@code KVM_SET_CLOCK}, the nanoseconds a paravirtual kvmclock guest
 * reads) and each vCPU's time-stamp counter (its TSC frequency and the value {@code RDTSC}
 * returns).
 *
 * <p><b>Semantics: guest time stands still while the VM is paused.</b> {@link #saveState()}
 * records, at the switchover (vCPUs stopped), the KVM clock and every vCPU's guest TSC, read at
 * its first call after the pause (later calls while the VM stays paused return the same bytes,
 * as the device contract wants of a paused device); {@link
 * #loadState(byte[])}, at the destination before any vCPU runs, sets the KVM clock to the saved
 * value and each vCPU's TSC so that it reads the saved value at that moment, and runs on from
 * there at the saved frequency. A guest that reads the TSC just before the pause and just after
 * the resume therefore sees it advance by the time from its last read to the save plus the time
 * from the load to its first read: never backwards, and never more than the downtime. (The guest
 * is behind the wall clock by the downtime afterwards, as after any pause of the VM; a guest that
 * needs wall-clock time corrects it as it would after a suspend.)
 *
 * <p><b>Why this device sets the TSC again.</b> The vCPU state ({@link KvmVcpu#saveState()})
 * already carries {@code IA32_TSC}, and loading it writes the MSR, but KVM treats a host write of
 * the TSC within one second of what it expects from the VM's last TSC write as an attempt to
 * synchronize vCPUs and keeps its own offset instead: a destination VM created shortly before
 * the switchover could then give the guest a TSC up to a second off, either way. This device is
 * loaded after the vCPUs (the engines load vCPU state first) and sets the TSC offset exactly
 * through the vCPU attribute {@code KVM_VCPU_TSC_OFFSET} where KVM has it ({@code
 * KVM_CAP_VCPU_ATTRIBUTES}); otherwise it writes the MSR once more, which the heuristic above may
 * still bend (logged).
 *
 * <p><b>Hosts that cannot offset the guest's TSC.</b> Under kvm-pvm the guest runs in ring 3
 * natively and its {@code RDTSC} returns the host's TSC: KVM accepts a TSC offset there and
 * ignores it. Between two such VMs on one host the guest's TSC runs on through the downtime (it
 * steps by the downtime, not back); between two hosts it would step by the difference of their
 * TSCs. {@link #loadState} checks that the TSC reads what it set and logs a warning once per
 * device where it does not; it does not fail the migration for it.
 *
 * <p>A destination whose vCPUs run the TSC at another frequency is set to the source's with
 * {@code KVM_SET_TSC_KHZ}, which needs TSC scaling on the destination host; without it loading
 * fails rather than change the rate of the guest's time.
 *
 * <p>Thread-safe for what the engines do (save on a paused source, load into a target whose
 * vCPUs have not run since). The VMM's writes: none into guest RAM (KVM updates a kvmclock
 * guest's pvclock page itself, which its dirty log records).
 */
public final class KvmClock implements MigratableDevice {

    private static final Logger LOG = LoggerFactory.getLogger(KvmClock.class);

    /** The device id, the same for every KVM VM. */
    public static final String ID = "kvm-clock";

    /** IA32_TIME_STAMP_COUNTER, an architectural MSR (not in the uAPI headers). */
    private static final int MSR_IA32_TSC = 0x10;
    private static final int MAGIC = 0x4b434d4c; // "LMCK"
    private static final int VERSION = 1;
    private static final int HEADER_BYTES = 4 + 2 + 2 + 8 + 4 + 4;
    private static final int VCPU_BYTES = 8 + 8;

    private final MicroVmm vmm;
    private final KvmVm vm;
    private final List<KvmVcpu> vcpus;
    private boolean warnedUnoffsetTsc;
    /** The state saved since the VM last paused, or null; valid while the VMM's resume count is {@link #savedAt}. */
    private byte[] saved;
    private long savedAt;

    /**
     * Creates the clock device of a VMM's VM.
     *
     * @param vmm the VMM whose VM's clock and vCPUs' TSCs it saves and loads; not owned
     */
    KvmClock(MicroVmm vmm) {
        this.vmm = Objects.requireNonNull(vmm, "vmm");
        this.vm = vmm.vm();
        this.vcpus = vmm.vcpus();
    }

    /** {@return {@value #ID}} */
    @Override
    public String id() {
        return ID;
    }

    /**
     * Saves the KVM clock and each vCPU's TSC frequency and value.
     *
     * <pre>
     * state = magic:u32 ('LMCK') version:u16 (1) vcpus:u16 clock_ns:u64 clock_flags:u32 0:u32
     *         (tsc_khz:u64 tsc:u64) per vCPU, in index order
     * </pre>
     * little-endian. Call with the vCPUs stopped (at the switchover).
     *
     * @return the state, read at the first call since the VM paused
     * @throws KvmException if KVM refuses to read the clock or a TSC
     */
    @Override
    public synchronized byte[] saveState() {
        long resumes = vmm.resumeCount();
        if (saved != null && savedAt == resumes && vmm.isPaused()) {
            return saved.clone();
        }
        ByteBuffer out = ByteBuffer.allocate(HEADER_BYTES + vcpus.size() * VCPU_BYTES).order(ByteOrder.LITTLE_ENDIAN);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment clock = a.allocate(KvmAbi.CLOCK_DATA_BYTES, 8);
            Sys.ioctl(vm.fd(), KvmAbi.GET_CLOCK, clock, "KVM_GET_CLOCK");
            out.putInt(MAGIC).putShort((short) VERSION).putShort((short) vcpus.size())
                    .putLong(clock.get(JAVA_LONG, KvmAbi.CLOCK_DATA_CLOCK))
                    .putInt(clock.get(JAVA_INT, KvmAbi.CLOCK_DATA_FLAGS)).putInt(0);
            for (KvmVcpu vcpu : vcpus) {
                out.putLong(vcpu.tscKhz()).putLong(readTsc(a, vcpu));
            }
        }
        saved = out.array();
        savedAt = resumes;
        return saved.clone();
    }

    /**
     * Loads a state {@link #saveState()} made: sets the KVM clock, then each vCPU's TSC frequency
     * (only if it differs) and value. Call before the vCPUs run, after their state was loaded.
     *
     * @param state the bytes {@link #saveState()} returned, here or in another process
     * @throws IllegalArgumentException if the bytes are malformed or for another number of vCPUs;
     *                                  nothing was loaded then
     * @throws KvmException             if KVM refuses the clock, the frequency (no TSC scaling on
     *                                  this host) or the TSC
     */
    @Override
    public synchronized void loadState(byte[] state) {
        ByteBuffer in = ByteBuffer.wrap(state).order(ByteOrder.LITTLE_ENDIAN);
        if (state.length < HEADER_BYTES || in.getInt() != MAGIC || in.getShort() != VERSION) {
            throw new IllegalArgumentException("not a " + ID + " state (magic, version " + VERSION + ")");
        }
        int count = Short.toUnsignedInt(in.getShort());
        if (count != vcpus.size() || state.length != HEADER_BYTES + count * VCPU_BYTES) {
            throw new IllegalArgumentException(ID + " state for " + count + " vCPUs (" + state.length
                    + " bytes); this VM has " + vcpus.size());
        }
        long clockNanos = in.getLong();
        in.getLong(); // the source's flags and padding: informational
        saved = null;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment clock = a.allocate(KvmAbi.CLOCK_DATA_BYTES, 8);
            clock.set(JAVA_LONG, KvmAbi.CLOCK_DATA_CLOCK, clockNanos);
            Sys.ioctl(vm.fd(), KvmAbi.SET_CLOCK, clock, "KVM_SET_CLOCK");
            for (KvmVcpu vcpu : vcpus) {
                long khz = in.getLong();
                long tsc = in.getLong();
                if (vcpu.tscKhz() != khz) {
                    Sys.ioctl(vcpu.stateFd(), KvmAbi.SET_TSC_KHZ, khz, "KVM_SET_TSC_KHZ(" + khz + ")");
                }
                setTsc(a, vcpu, tsc);
                long now = readTsc(a, vcpu);
                // More than a second off: the host ignored the offset.
                if (Math.abs(now - tsc) > khz * 1000 && !warnedUnoffsetTsc) {
                    warnedUnoffsetTsc = true;
                    LOG.warn("vCPU {}: KVM did not offset the guest TSC (it reads {} after being set to {}): "
                            + "this host gives the guest its own TSC (kvm-pvm does), so the guest's TSC moved "
                            + "by the difference of the two hosts' TSCs (nothing between VMs on one host)",
                            vcpu.index(), now, tsc);
                }
            }
        }
    }

    /** {@return the KVM clock of {@code vm} now, in nanoseconds (KVM_GET_CLOCK)} */
    static long readClockNanos(KvmVm vm) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment clock = a.allocate(KvmAbi.CLOCK_DATA_BYTES, 8);
            Sys.ioctl(vm.fd(), KvmAbi.GET_CLOCK, clock, "KVM_GET_CLOCK");
            return clock.get(JAVA_LONG, KvmAbi.CLOCK_DATA_CLOCK);
        }
    }

    /** {@return the guest TSC of a stopped vCPU now: what RDTSC would return} */
    static long readTsc(Arena a, KvmVcpu vcpu) {
        MemorySegment msrs = a.allocate(KvmAbi.MSRS_HEADER_BYTES + KvmAbi.MSR_ENTRY_BYTES, 8);
        msrs.set(JAVA_INT, 0, 1);
        msrs.set(JAVA_INT, KvmAbi.MSRS_HEADER_BYTES, MSR_IA32_TSC);
        if (vcpu.get(KvmAbi.GET_MSRS, msrs, "KVM_GET_MSRS(IA32_TSC)") != 1) {
            throw new KvmException("KVM_GET_MSRS", 0, "KVM did not read IA32_TSC of vCPU " + vcpu.index());
        }
        return msrs.get(JAVA_LONG, KvmAbi.MSRS_HEADER_BYTES + 8);
    }

    /** Makes {@code vcpu}'s guest TSC read {@code tsc} now, through its TSC offset where KVM lets us. */
    private void setTsc(Arena a, KvmVcpu vcpu, long tsc) {
        MemorySegment value = a.allocate(8, 8);
        MemorySegment attr = a.allocate(KvmAbi.DEVICE_ATTR_BYTES, 8);
        attr.set(JAVA_INT, KvmAbi.DEVICE_ATTR_GROUP, KvmAbi.VCPU_TSC_CTRL);
        attr.set(JAVA_LONG, KvmAbi.DEVICE_ATTR_ATTR, KvmAbi.VCPU_TSC_OFFSET);
        attr.set(JAVA_LONG, KvmAbi.DEVICE_ATTR_ADDR, value.address());
        boolean offsetAttr = vm.kvm().checkExtension(KvmAbi.CAP_VCPU_ATTRIBUTES) > 0
                && Sys.ioctlRaw(vcpu.stateFd(), KvmAbi.HAS_DEVICE_ATTR, attr) == 0;
        if (offsetAttr) {
            // guest TSC = host TSC (scaled) + offset: move the offset by what the guest TSC lacks.
            // The two reads are nanoseconds apart; the offset is exact from the write on.
            Sys.ioctl(vcpu.stateFd(), KvmAbi.GET_DEVICE_ATTR, attr, "KVM_GET_DEVICE_ATTR(KVM_VCPU_TSC_OFFSET)");
            long offset = value.get(JAVA_LONG, 0);
            long now = readTsc(a, vcpu);
            value.set(JAVA_LONG, 0, offset + (tsc - now));
            Sys.ioctl(vcpu.stateFd(), KvmAbi.SET_DEVICE_ATTR, attr, "KVM_SET_DEVICE_ATTR(KVM_VCPU_TSC_OFFSET)");
            return;
        }
        MemorySegment msrs = a.allocate(KvmAbi.MSRS_HEADER_BYTES + KvmAbi.MSR_ENTRY_BYTES, 8);
        msrs.set(JAVA_INT, 0, 1);
        msrs.set(JAVA_INT, KvmAbi.MSRS_HEADER_BYTES, MSR_IA32_TSC);
        msrs.set(JAVA_LONG, KvmAbi.MSRS_HEADER_BYTES + 8, tsc);
        if (Sys.ioctl(vcpu.stateFd(), KvmAbi.SET_MSRS, msrs, "KVM_SET_MSRS(IA32_TSC)") != 1) {
            throw new KvmException("KVM_SET_MSRS", 0, "KVM refused IA32_TSC of vCPU " + vcpu.index());
        }
        LOG.debug("vCPU {}: no KVM_VCPU_TSC_OFFSET on this host; TSC set through IA32_TSC", vcpu.index());
    }
}
