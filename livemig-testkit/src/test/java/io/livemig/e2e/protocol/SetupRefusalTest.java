package io.livemig.e2e.protocol;

import io.livemig.api.MigrationOptions;
import io.livemig.api.ProtocolException;
import io.livemig.api.ProtocolException.Kind;
import io.livemig.api.ReceiveLimits;
import io.livemig.api.Strategy;
import io.livemig.api.VmExpectation;
import io.livemig.e2e.ObservedTarget;
import io.livemig.engine.internal.wire.FrameType;
import io.livemig.engine.internal.wire.HandshakeFrames;
import io.livemig.kit.InMemoryVm;
import io.livemig.spi.MemoryLayout;
import io.livemig.spi.MemoryRegion;
import io.livemig.spi.VmDescriptor;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;

import static io.livemig.e2e.protocol.HostileSource.PAGE;
import static io.livemig.e2e.protocol.HostileSource.PLAIN;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A hostile or mistaken source's SETUP against the destination's checks: whatever exceeds the
 * {@link ReceiveLimits} or differs from the {@link VmExpectation} is refused before the target
 * factory is called, so the receiver allocates nothing for it; a target that is not the VM SETUP
 * announced is refused before READY and discarded. Each refusal is INCOMPATIBLE and names the
 * value, the limit or expected value, and the option.
 */
class SetupRefusalTest {

    private static final String FORMAT = "livemig-mem-vcpu-v1";
    private static final List<String> WORKLOAD = List.of(InMemoryVm.WORKLOAD_DEVICE_ID);
    private static final int FRAME = 1 << 20;

    private static VmDescriptor vm(MemoryLayout layout, int vcpus, List<String> devices) {
        return new VmDescriptor(layout, vcpus, devices, FORMAT);
    }

    private static VmDescriptor small() {
        return vm(MemoryLayout.contiguous(PAGE, 64L * PAGE), 1, WORKLOAD);
    }

    /** Sends HELLO and SETUP for {@code descriptor}; the destination answers with the options given. */
    private static ProtocolException refusedSetup(MigrationOptions options, Strategy strategy, VmDescriptor descriptor,
                                                  int batchPages, int expectedTargets,
                                                  Function<VmDescriptor, ObservedTarget> factory) throws Exception {
        try (HostileSource source = new HostileSource(options, factory)) {
            source.hello(PLAIN, FRAME);
            source.send(new HandshakeFrames.Setup(strategy, true, false, descriptor, batchPages));
            ProtocolException p = source.refused();
            assertEquals(Kind.INCOMPATIBLE, p.kind(), p.getMessage());
            assertEquals(expectedTargets, source.targetsMade(), "targets made");
            if (source.target() != null) {
                assertEquals(0, source.target().writes(), "nothing written to the guest");
            }
            return p;
        }
    }

    private static ProtocolException refusedBeforeAnyTarget(MigrationOptions options, Strategy strategy,
                                                            VmDescriptor descriptor) throws Exception {
        return refusedSetup(options, strategy, descriptor, 64, 0, ObservedTarget::asAnnounced);
    }

    private static MigrationOptions limits(ReceiveLimits limits) {
        return MigrationOptions.builder().receiveLimits(limits).build();
    }

    private static MigrationOptions expecting(VmExpectation expected) {
        return MigrationOptions.builder().expectation(expected).build();
    }

    private static void assertNames(ProtocolException p, String... parts) {
        for (String part : parts) {
            assertTrue(p.getMessage().contains(part), () -> "'" + part + "' missing from: " + p.getMessage());
        }
    }

    @Test
    void anEightGibSetupAboveTheMemoryLimitMakesNoTarget() throws Exception {
        VmDescriptor eightGib = vm(MemoryLayout.contiguous(PAGE, 8L << 30), 1, WORKLOAD);
        ProtocolException p = refusedBeforeAnyTarget(limits(ReceiveLimits.DEFAULTS.withMaxMemoryBytes(1L << 30)),
                Strategy.COLD, eightGib);
        assertNames(p, "8589934592 bytes of RAM", "limit of 1073741824", "raise ReceiveLimits.maxMemoryBytes");
    }

    @Test
    void aSparseOnePageLayoutAtAHugeSpanMakesNoTarget() throws Exception {
        MemoryLayout sparse = new MemoryLayout(PAGE, List.of(new MemoryRegion(1L << 36, 1)));
        ProtocolException p = refusedBeforeAnyTarget(MigrationOptions.builder().build(), Strategy.COLD,
                vm(sparse, 1, WORKLOAD));
        assertNames(p, (1L << 36) + 1 + " pages of span", "limit of " + ReceiveLimits.DEFAULTS.maxPageSpan(),
                "raise ReceiveLimits.maxPageSpan");
    }

    @Test
    void moreRegionsThanTheLimitMakeNoTarget() throws Exception {
        List<MemoryRegion> regions = new ArrayList<>();
        for (int i = 0; i < 5; i++) {
            regions.add(new MemoryRegion(i * 32L, 16));
        }
        ReceiveLimits four = new ReceiveLimits(1L << 40, 1L << 32, 4, 64, 64, 1L << 20,
                ReceiveLimits.DEFAULTS.handshakeTimeout());
        ProtocolException p = refusedBeforeAnyTarget(limits(four), Strategy.COLD,
                vm(new MemoryLayout(PAGE, regions), 1, WORKLOAD));
        assertNames(p, "5 memory regions", "limit of 4", "raise ReceiveLimits.maxRegions");
    }

    @Test
    void moreVcpusThanTheLimitMakeNoTarget() throws Exception {
        ReceiveLimits two = new ReceiveLimits(1L << 40, 1L << 32, 16, 2, 64, 1L << 20,
                ReceiveLimits.DEFAULTS.handshakeTimeout());
        ProtocolException p = refusedBeforeAnyTarget(limits(two), Strategy.COLD,
                vm(MemoryLayout.contiguous(PAGE, 64L * PAGE), 3, WORKLOAD));
        assertNames(p, "3 vCPUs", "limit of 2", "raise ReceiveLimits.maxVcpus");
    }

    @Test
    void aThousandDevicesAboveTheDefaultLimitMakeNoTarget() throws Exception {
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < 1024; i++) {
            ids.add("dev" + i);
        }
        ProtocolException p = refusedBeforeAnyTarget(MigrationOptions.builder().build(), Strategy.COLD,
                vm(MemoryLayout.contiguous(PAGE, 64L * PAGE), 1, ids));
        assertNames(p, "1024 devices", "limit of " + ReceiveLimits.DEFAULTS.maxDevices(),
                "raise ReceiveLimits.maxDevices");
    }

    @Test
    void batchesWhoseRawPagesDoNotFitInAFrameMakeNoTarget() throws Exception {
        ProtocolException p = refusedSetup(MigrationOptions.builder().build(), Strategy.COLD, small(), 1024, 0,
                ObservedTarget::asAnnounced);
        assertNames(p, "batches of 1024 pages", "frame limit of " + FRAME);
    }

    @Test
    void anotherMemorySizeThanExpectedMakesNoTarget() throws Exception {
        ProtocolException p = refusedBeforeAnyTarget(expecting(VmExpectation.ANY.withMemoryBytes(32L * PAGE)),
                Strategy.COLD, small());
        assertNames(p, 64L * PAGE + " bytes of RAM", "expects " + 32L * PAGE, "VmExpectation.memoryBytes");
    }

    @Test
    void anotherVcpuCountThanExpectedMakesNoTarget() throws Exception {
        ProtocolException p = refusedBeforeAnyTarget(expecting(VmExpectation.ANY.withVcpuCount(2)), Strategy.COLD,
                small());
        assertNames(p, "1 vCPUs", "expects 2", "VmExpectation.vcpuCount");
    }

    @Test
    void theExpectedDevicesInAnotherOrderMakeNoTarget() throws Exception {
        VmDescriptor twoDevices = vm(MemoryLayout.contiguous(PAGE, 64L * PAGE), 1, List.of("b", "a"));
        ProtocolException p = refusedBeforeAnyTarget(expecting(VmExpectation.ANY.withDeviceIds(List.of("a", "b"))),
                Strategy.COLD, twoDevices);
        assertNames(p, "[b, a] as devices", "expects [a, b]", "VmExpectation.deviceIds");
    }

    @Test
    void anotherStrategyThanExpectedMakesNoTarget() throws Exception {
        ProtocolException p = refusedBeforeAnyTarget(expecting(VmExpectation.ANY.withStrategy(Strategy.COLD)),
                Strategy.PRECOPY, small());
        assertNames(p, "PRECOPY as strategy", "expects COLD", "VmExpectation.strategy");
    }

    @Test
    void aSetupAsExpectedAndWithinTheLimitsIsReady() throws Exception {
        MigrationOptions options = MigrationOptions.builder()
                .receiveLimits(ReceiveLimits.DEFAULTS.withMaxMemoryBytes(64L * PAGE).withMaxPageSpan(64))
                .expectation(VmExpectation.ANY.withMemoryBytes(64L * PAGE).withVcpuCount(1).withDeviceIds(WORKLOAD)
                        .withStrategy(Strategy.COLD))
                .build();
        try (HostileSource source = new HostileSource(options, ObservedTarget::asAnnounced)) {
            source.hello(PLAIN, FRAME);
            source.send(new HandshakeFrames.Setup(Strategy.COLD, true, false, small(), 64));
            source.expect(FrameType.READY);
            assertEquals(1, source.targetsMade());
        }
    }

    @Test
    void announcedDevicesATargetDoesNotHaveAreRefusedBeforeReady() throws Exception {
        // As on KVM, whose targets have their own devices whatever SETUP says.
        VmDescriptor threeDevices = vm(MemoryLayout.contiguous(PAGE, 64L * PAGE), 1,
                List.of(InMemoryVm.WORKLOAD_DEVICE_ID, "virtio-net0", "virtio-blk0"));
        ProtocolException p = refusedSetup(MigrationOptions.builder().build(), Strategy.COLD, threeDevices, 64, 1,
                ObservedTarget::of);
        assertNames(p, "the target has the devices " + WORKLOAD, "SETUP announced " + threeDevices.deviceIds());
    }

    @Test
    void anAnnouncedVcpuFormatTheTargetDoesNotTakeIsRefusedBeforeReady() throws Exception {
        VmDescriptor kvmState = new VmDescriptor(MemoryLayout.contiguous(PAGE, 64L * PAGE), 1, WORKLOAD, "kvm-x86-v1");
        ProtocolException p = refusedSetup(MigrationOptions.builder().build(), Strategy.COLD, kvmState, 64, 1,
                ObservedTarget::of);
        assertNames(p, "the target takes vCPU state '" + FORMAT + "'", "SETUP announced 'kvm-x86-v1'");
    }
}
