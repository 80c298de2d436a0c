package io.livemig.engine.internal.destination;

import io.livemig.api.ProtocolException.Kind;
import io.livemig.api.ReceiveLimits;
import io.livemig.api.VmExpectation;
import io.livemig.engine.internal.wire.HandshakeFrames;
import io.livemig.engine.internal.wire.Wire;
import io.livemig.engine.internal.wire.WireException;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MigratableDevice;
import io.livemig.spi.MigrationTarget;
import io.livemig.spi.VmDescriptor;

import java.util.ArrayList;
import java.util.List;

/**
 * What the destination checks of SETUP, and when. Before anything is allocated for it: that it
 * stays within this destination's {@link ReceiveLimits} and its batches fit in a frame, and that
 * it is the VM the control plane said to expect ({@link VmExpectation}). After the target is
 * made and before READY: that the target is the VM SETUP announced (vCPU count and state format,
 * devices in order), so that no state frame later finds a vCPU or device it cannot load. Each
 * refusal is {@link Kind#INCOMPATIBLE} and names the field, the value and the limit or the
 * expected value, and for a limit the option that raises it.
 */
final class SetupChecks {

    private SetupChecks() {
    }

    /**
     * @param frameLimitBytes the frame limit agreed in the handshake
     * @throws WireException if SETUP exceeds a limit
     */
    static void withinLimits(HandshakeFrames.Setup setup, ReceiveLimits limits, int frameLimitBytes)
            throws WireException {
        VmDescriptor d = setup.descriptor();
        MemoryLayout layout = d.memoryLayout();
        limit("bytes of RAM", layout.memoryBytes(), limits.maxMemoryBytes(), "maxMemoryBytes");
        limit("pages of span (guest-physical 0x" + Long.toHexString(layout.pageSpan() * layout.pageSizeBytes())
                + ")", layout.pageSpan(), limits.maxPageSpan(), "maxPageSpan");
        limit("memory regions", layout.regions().size(), limits.maxRegions(), "maxRegions");
        limit("vCPUs", d.vcpuCount(), limits.maxVcpus(), "maxVcpus");
        limit("devices", d.deviceIds().size(), limits.maxDevices(), "maxDevices");
        limit("disk blocks", d.disks().stream().mapToLong(io.livemig.spi.DiskDescriptor::blockCount).sum(),
                limits.maxDiskBlocks(), "maxDiskBlocks");
        long rawBatchBytes = Wire.MIN_FRAME_BYTES + Wire.PAGES_HEADER_BYTES
                + (long) setup.batchPages() * (layout.pageSizeBytes() + Wire.PAGE_ENTRY_BYTES);
        if (rawBatchBytes > frameLimitBytes) {
            throw new WireException(Kind.INCOMPATIBLE, "SETUP announces batches of " + setup.batchPages() + " pages of "
                    + layout.pageSizeBytes() + " bytes: as raw pages they take " + rawBatchBytes
                    + " bytes, more than the agreed frame limit of " + frameLimitBytes);
        }
    }

    private static void limit(String what, long announced, long limit, String option) throws WireException {
        if (announced > limit) {
            throw new WireException(Kind.INCOMPATIBLE, "SETUP announces " + announced + " " + what
                    + ", more than this destination's limit of " + limit + ": raise ReceiveLimits." + option);
        }
    }

    /** @throws WireException if SETUP is not what the destination was told to expect */
    static void asExpected(HandshakeFrames.Setup setup, VmExpectation expected) throws WireException {
        VmDescriptor d = setup.descriptor();
        long memoryBytes = d.memoryLayout().memoryBytes();
        if (expected.memoryBytes().isPresent() && expected.memoryBytes().getAsLong() != memoryBytes) {
            throw unexpected("bytes of RAM", memoryBytes, expected.memoryBytes().getAsLong(), "memoryBytes");
        }
        if (expected.vcpuCount().isPresent() && expected.vcpuCount().getAsInt() != d.vcpuCount()) {
            throw unexpected("vCPUs", d.vcpuCount(), expected.vcpuCount().getAsInt(), "vcpuCount");
        }
        if (expected.deviceIds().isPresent() && !expected.deviceIds().get().equals(d.deviceIds())) {
            throw unexpected("as devices", shortList(d.deviceIds()), shortList(expected.deviceIds().get()), "deviceIds");
        }
        if (expected.strategy().isPresent() && expected.strategy().get() != setup.strategy()) {
            throw unexpected("as strategy", setup.strategy(), expected.strategy().get(), "strategy");
        }
    }

    private static WireException unexpected(String what, Object announced, Object expected, String field) {
        return new WireException(Kind.INCOMPATIBLE, "SETUP announces " + announced + " " + what
                + ", this destination expects " + expected + " (VmExpectation." + field + ")");
    }

    /** @throws WireException if the target is not the VM SETUP announced */
    static void targetMatches(HandshakeFrames.Setup setup, MigrationTarget target) throws WireException {
        VmDescriptor announced = setup.descriptor();
        VmDescriptor made = target.descriptor();
        if (made.vcpuCount() != announced.vcpuCount()) {
            throw new WireException(Kind.INCOMPATIBLE, "the target has " + made.vcpuCount()
                    + " vCPUs, SETUP announced " + announced.vcpuCount());
        }
        if (!made.vcpuStateFormat().equals(announced.vcpuStateFormat())) {
            throw new WireException(Kind.INCOMPATIBLE, "the target takes vCPU state '" + made.vcpuStateFormat()
                    + "', SETUP announced '" + announced.vcpuStateFormat() + "'");
        }
        List<String> devices = new ArrayList<>();
        for (MigratableDevice device : target.devices()) {
            devices.add(device.id());
        }
        if (!devices.equals(announced.deviceIds())) {
            throw new WireException(Kind.INCOMPATIBLE, "the target has the devices " + shortList(devices)
                    + ", SETUP announced " + shortList(announced.deviceIds()));
        }
    }

    /** @return the ids, or their count if they are too many to name in a message */
    private static String shortList(List<String> ids) {
        return ids.size() <= 16 ? ids.toString() : ids.size() + " device ids";
    }
}
