package io.livemig.e2e.protocol;

import io.livemig.api.MigrationOptions;
import io.livemig.api.ReceiveLimits;
import io.livemig.api.Strategy;
import io.livemig.api.Verification;
import io.livemig.compress.PageEncoding;
import io.livemig.e2e.ObservedTarget;
import io.livemig.engine.ReceivedMigration;
import io.livemig.engine.internal.wire.FrameType;
import io.livemig.engine.internal.wire.HandshakeFrames;
import io.livemig.engine.internal.wire.Message;
import io.livemig.engine.internal.wire.SwitchoverFrames;
import io.livemig.engine.internal.wire.VerifyFrames;
import io.livemig.kit.InMemoryVm;
import io.livemig.kit.internal.PagedMemory;
import io.livemig.spi.DemandPaging;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemoryRegion;
import io.livemig.spi.MemorySink;
import io.livemig.spi.VcpuState;
import io.livemig.spi.VmDescriptor;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.util.List;
import java.util.Optional;
import java.util.zip.CRC32C;

import static io.livemig.e2e.protocol.HostileSource.PAGE;
import static io.livemig.e2e.protocol.HostileSource.PLAIN;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A sparse layout within the limits (a page at the top of a span of 2^32 pages, 16 TiB of
 * guest-physical space with 17 pages of RAM) is received and verified with bookkeeping for its
 * 17 pages: once, the digests alone took an array the size of the span and the receiver crashed.
 */
class SparseLayoutTest {

    private static final long TOP = ReceiveLimits.DEFAULTS.maxPageSpan() - 1;
    private static final MemoryLayout SPARSE = new MemoryLayout(PAGE,
            List.of(new MemoryRegion(0, 16), new MemoryRegion(TOP, 1)));

    /**
     * A target for a sparse layout: guest memory only where the layout has RAM (no per-page
     * bookkeeping over the span), the vCPUs and workload device of a small in-memory VM. No
     * demand paging.
     */
    private static ObservedTarget sparse(VmDescriptor announced) {
        return new ObservedTarget(MemoryLayout.contiguous(PAGE, 16L * PAGE), announced.vcpuCount()) {
            private final VmDescriptor descriptor = new VmDescriptor(announced.memoryLayout(),
                    announced.vcpuCount(), vm().descriptor().deviceIds(), vm().descriptor().vcpuStateFormat());
            private final MemorySink memory = new PagedMemory(announced.memoryLayout());

            @Override
            public VmDescriptor descriptor() {
                return descriptor;
            }

            @Override
            protected MemorySink guestMemory() {
                return memory;
            }

            @Override
            public Optional<DemandPaging> demandPaging() {
                return Optional.empty();
            }
        };
    }

    private static byte[] filled(int seed) {
        byte[] page = new byte[PAGE];
        for (int i = 0; i < PAGE; i++) {
            page[i] = (byte) (seed * 31 + i);
        }
        return page;
    }

    private static int crc(byte[] page) {
        CRC32C c = new CRC32C();
        c.update(page);
        return (int) c.getValue();
    }

    @Test
    void aPageAtTheTopOfAHugeSpanIsReceivedAndVerified() throws Exception {
        byte[] top = filled(1);
        byte[] low = filled(2);
        try (HostileSource source = new HostileSource(MigrationOptions.builder().build(), SparseLayoutTest::sparse)) {
            source.hello(PLAIN, 1 << 20);
            source.send(new HandshakeFrames.Setup(Strategy.COLD, true, false,
                    new VmDescriptor(SPARSE, 1, List.of(InMemoryVm.WORKLOAD_DEVICE_ID), "livemig-mem-vcpu-v1"), 64));
            source.expect(FrameType.READY);
            ByteBuffer b = source.begin(FrameType.PAGES).putInt(0).putInt(2);
            b.putLong(TOP).put((byte) PageEncoding.RAW.wireId()).putInt(PAGE).put(top);
            b.putLong(3).put((byte) PageEncoding.RAW.wireId()).putInt(PAGE).put(low);
            source.send(source.finish());
            source.send(new SwitchoverFrames.Switchover());
            try (InMemoryVm twin = InMemoryVm.builder().memoryBytes(16L * PAGE).build()) {
                twin.vcpus().pause();
                for (VcpuState state : twin.vcpus().saveState()) {
                    source.send(new SwitchoverFrames.VcpuStateFrame(state));
                }
                source.send(new SwitchoverFrames.DeviceStateFrame(InMemoryVm.WORKLOAD_DEVICE_ID,
                        twin.devices().get(0).saveState()));
            }
            source.send(new SwitchoverFrames.Commit(1, 1, false));
            source.expect(FrameType.RESUMED);

            int[] lowDigests = new int[16];
            for (int i = 0; i < 16; i++) {
                lowDigests[i] = i == 3 ? crc(low) : crc(new byte[PAGE]);
            }
            source.send(new VerifyFrames.Digests(0, lowDigests));
            source.send(new VerifyFrames.Digests(TOP, new int[] {crc(top)}));
            source.send(new VerifyFrames.DigestsEnd(17));
            VerifyFrames.VerifyResult result = (VerifyFrames.VerifyResult) Message.read(
                    source.expect(FrameType.VERIFY_RESULT), null);
            assertEquals(new VerifyFrames.VerifyResult(17, 0, -1), result);

            ReceivedMigration received = source.received();
            assertEquals(Verification.VERIFIED, received.report().verification().outcome());
            assertArrayEquals(top, source.target().page(TOP));
            assertArrayEquals(low, source.target().page(3));
        }
    }
}
