package io.livemig.kvm;

import io.livemig.kvm.internal.VfioAbi;
import io.livemig.spi.DeviceState;
import io.livemig.spi.PageSet;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/**
 * The parts of the VFIO binding that run without a device: the request numbers as
 * {@code _IO(';', 100 + n)} makes them, the structs written and read back at the offsets
 * {@link VfioAbiTest} checks against linux/vfio.h, the supported states derived from the
 * migration flags, and a DMA logging report's bitmap turned into guest pages.
 */
class VfioEncodingTest {

    @Test
    void requestNumbersAreVfiosIoRequestsFrom100() {
        // _IO(';', n): type 0x3B in bits 8-15, no size, no direction.
        assertEquals(0x3B6B, VfioAbi.DEVICE_GET_INFO, "VFIO_DEVICE_GET_INFO = _IO(';', 107)");
        assertEquals(0x3B75, VfioAbi.DEVICE_FEATURE, "VFIO_DEVICE_FEATURE = _IO(';', 117)");
        assertEquals(0x3B79, VfioAbi.MIG_GET_PRECOPY_INFO, "VFIO_MIG_GET_PRECOPY_INFO = _IO(';', 121)");
    }

    @Test
    void aFeatureHeaderCarriesItsSizeFlagsAndIndex() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment f = VfioAbi.feature(a, VfioAbi.DEVICE_FEATURE_GET | VfioAbi.DEVICE_FEATURE_PROBE,
                    VfioAbi.DEVICE_FEATURE_MIG_DEVICE_STATE, VfioAbi.MIG_STATE_BYTES);
            assertEquals(16, f.byteSize());
            assertEquals(16, f.get(JAVA_INT, 0), "argsz: header and data");
            assertEquals((1 << 16) | (1 << 18) | 2, f.get(JAVA_INT, 4), "flags: GET | PROBE | feature 2");
            assertEquals(8L, VfioAbi.data(f).byteSize());
            assertThrows(IllegalArgumentException.class, () -> VfioAbi.feature(a, 0, 0x1_0000, 0));
        }
    }

    @Test
    void theMigStateStructRoundTrips() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment f = VfioAbi.feature(a, VfioAbi.DEVICE_FEATURE_SET, VfioAbi.DEVICE_FEATURE_MIG_DEVICE_STATE,
                    VfioAbi.MIG_STATE_BYTES);
            MemorySegment data = VfioAbi.data(f);
            for (DeviceState s : DeviceState.values()) {
                VfioAbi.encodeMigState(data, s);
                assertEquals(s.vfioValue(), f.get(JAVA_INT, 8), "device_state after the header");
                assertEquals(-1, f.get(JAVA_INT, 12), "data_fd is -1 on the way in");
                assertEquals(s, VfioAbi.migState(data));
            }
            f.set(JAVA_INT, 12, 37); // the kernel returns a new data fd there
            assertEquals(37, VfioAbi.migStateDataFd(data));
            f.set(JAVA_INT, 8, 8);
            assertThrows(IllegalArgumentException.class, () -> VfioAbi.migState(data), "no state has the value 8");
        }
    }

    @Test
    void sizeAndFlagStructsDecodeTheirU64s() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = a.allocate(8, 8);
            m.set(JAVA_LONG, 0, 0x7);
            assertEquals(7L, VfioAbi.migrationFlags(m));
            m.set(JAVA_LONG, 0, 3L << 32);
            assertEquals(3L << 32, VfioAbi.stopCopyLength(m), "stop_copy_length is a full u64");
            MemorySegment info = VfioAbi.precopyInfo(a);
            assertEquals(24, info.get(JAVA_INT, 0), "argsz");
            info.set(JAVA_LONG, 8, 1000);
            info.set(JAVA_LONG, 16, 24);
            assertEquals(1024, VfioAbi.precopyPendingBytes(info), "initial_bytes + dirty_bytes");
            info.set(JAVA_LONG, 8, -1L); // 2^64 - 1 as a __u64
            assertEquals(Long.MAX_VALUE, VfioAbi.precopyPendingBytes(info), "saturates");
            assertEquals(16, VfioAbi.deviceInfo(a).get(JAVA_INT, 0), "GET_INFO's minimum argsz");
        }
    }

    @Test
    void dmaLoggingStructsCarryRangesAndBitmapPointers() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ranges = a.allocate(2L * VfioAbi.DMA_LOGGING_RANGE_BYTES, 8);
            VfioAbi.encodeRange(ranges, 0, 0, 640L << 10);
            VfioAbi.encodeRange(ranges, 1, 1L << 20, 3L << 30);
            assertEquals(List.of(0L, 640L << 10, 1L << 20, 3L << 30), List.of(ranges.get(JAVA_LONG, 0),
                    ranges.get(JAVA_LONG, 8), ranges.get(JAVA_LONG, 16), ranges.get(JAVA_LONG, 24)));
            MemorySegment control = a.allocate(VfioAbi.DMA_LOGGING_CONTROL_BYTES, 8);
            control.fill((byte) 0x5A);
            VfioAbi.encodeDmaLoggingControl(control, 4096, ranges, 2);
            assertEquals(4096, control.get(JAVA_LONG, 0), "page_size");
            assertEquals(2, control.get(JAVA_INT, 8), "num_ranges");
            assertEquals(0, control.get(JAVA_INT, 12), "__reserved is zeroed");
            assertEquals(ranges.address(), control.get(JAVA_LONG, 16), "ranges points at the array");
            control.set(JAVA_LONG, 0, 1 << 21); // the device chose 2 MiB
            assertEquals(1 << 21, VfioAbi.dmaLoggingPageSize(control));

            MemorySegment bitmap = a.allocate(64, 8);
            MemorySegment report = a.allocate(VfioAbi.DMA_LOGGING_REPORT_BYTES, 8);
            VfioAbi.encodeDmaLoggingReport(report, 1L << 20, 3L << 30, 4096, bitmap);
            assertEquals(List.of(1L << 20, 3L << 30, 4096L, bitmap.address()), List.of(report.get(JAVA_LONG, 0),
                    report.get(JAVA_LONG, 8), report.get(JAVA_LONG, 16), report.get(JAVA_LONG, 24)));
        }
    }

    @Test
    void theMigrationFlagsGiveTheSupportedStates() {
        assertEquals(DeviceState.MANDATORY, VfioAbi.supportedStates(VfioAbi.MIGRATION_STOP_COPY));
        Set<DeviceState> p2p = EnumSet.copyOf(DeviceState.MANDATORY);
        p2p.add(DeviceState.RUNNING_P2P);
        assertEquals(p2p, VfioAbi.supportedStates(VfioAbi.MIGRATION_STOP_COPY | VfioAbi.MIGRATION_P2P));
        Set<DeviceState> preCopy = EnumSet.copyOf(DeviceState.MANDATORY);
        preCopy.add(DeviceState.PRE_COPY);
        assertEquals(preCopy, VfioAbi.supportedStates(VfioAbi.MIGRATION_STOP_COPY | VfioAbi.MIGRATION_PRE_COPY));
        assertEquals(EnumSet.allOf(DeviceState.class), VfioAbi.supportedStates(
                VfioAbi.MIGRATION_STOP_COPY | VfioAbi.MIGRATION_P2P | VfioAbi.MIGRATION_PRE_COPY));
        assertThrows(IllegalArgumentException.class, () -> VfioAbi.supportedStates(VfioAbi.MIGRATION_P2P),
                "STOP_COPY is mandatory");
    }

    @Test
    void aReportBitmapBecomesThePagesOfItsRegion() {
        try (Arena a = Arena.ofConfined()) {
            // 130 pages: three words, the last holding two valid bits.
            MemorySegment bitmap = a.allocate(VfioAbi.bitmapWords(130) * 8, 8);
            bitmap.setAtIndex(JAVA_LONG, 0, 1L | (1L << 63));
            bitmap.setAtIndex(JAVA_LONG, 1, 1L << 5);
            bitmap.setAtIndex(JAVA_LONG, 2, 0b111L); // bit 2 is page 130: past the region, ignored
            for (long first : new long[] {0, 64, 100, 1000}) {
                PageSet pages = new PageSet(2048);
                VfioAbi.orBitmap(pages, first, 130, bitmap);
                List<Long> got = new java.util.ArrayList<>();
                for (long p = pages.nextSetBit(0); p >= 0; p = pages.nextSetBit(p + 1)) {
                    got.add(p);
                }
                assertEquals(List.of(first, first + 63, first + 69, first + 128, first + 129), got,
                        "region starting at page " + first);
            }
            // A region running past the set's span (pages 228 and 229 here) keeps the pages inside it.
            PageSet small = new PageSet(170);
            VfioAbi.orBitmap(small, 100, 130, bitmap);
            assertEquals(List.of(100L, 163L, 169L, -1L), List.of(small.nextSetBit(0), small.nextSetBit(101),
                    small.nextSetBit(164), small.nextSetBit(170)));
        }
    }
}
