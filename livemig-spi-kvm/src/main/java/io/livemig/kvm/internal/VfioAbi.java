package io.livemig.kvm.internal;

import io.livemig.spi.DeviceState;
import io.livemig.spi.PageSet;

import java.lang.foreign.Arena;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.util.EnumSet;
import java.util.Set;

import static io.livemig.kvm.internal.IoctlEncoding.NONE;
import static java.lang.foreign.MemoryLayout.PathElement.groupElement;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * The VFIO migration v2 ABI this binding uses (x86-64), from linux/vfio.h: the ioctl numbers,
 * the {@code VFIO_DEVICE_FEATURE} flags and feature indices, the migration flags, and the structs
 * of the migration and DMA logging features, declared once as {@link MemoryLayout}s whose sizes
 * and offsets the public constants are read from. {@code VfioAbiTest} compiles a C program
 * against the installed linux/vfio.h and compares every public constant, and the
 * {@code enum vfio_device_mig_state} values of {@link DeviceState}, with the compiler's; the
 * parts newer than Linux 6.1's header (the PRE_COPY states and flag, {@code MIG_DATA_SIZE},
 * {@code VFIO_MIG_GET_PRECOPY_INFO}; marked "newer" below, taken from the upstream header) are
 * checked where the installed header has them and reported as skipped where it does not.
 *
 * <p>Names drop the header's {@code VFIO_} prefix; each entry names its C counterpart. Every
 * request here is {@code _IO} (no size, no direction) although the header's comments write
 * {@code _IOWR}: the argument's size travels in its {@code argsz} field instead. The encoders
 * and decoders write and read the structs in native memory; they are pure (no system call), so
 * the unit tests round-trip them on any host.
 */
public final class VfioAbi {

    private VfioAbi() {
    }

    /** {@code VFIO_TYPE}: the ioctl type of every VFIO request, the character ';'. */
    private static final int VFIO_TYPE = ';';
    /** {@code VFIO_BASE}: VFIO numbers its requests from 100. */
    private static final int VFIO_BASE = 100;

    private static long io(int nr) {
        return IoctlEncoding.ioc(NONE, VFIO_TYPE, VFIO_BASE + nr, 0);
    }

    // ---- Layouts, declared once: the constants below are read from them. ----

    /** {@code struct vfio_device_feature} without its flexible {@code data[]}. */
    private static final StructLayout FEATURE = MemoryLayout.structLayout(
            JAVA_INT.withName("argsz"), JAVA_INT.withName("flags"));
    /** {@code struct vfio_device_feature_migration}. */
    private static final StructLayout MIGRATION = MemoryLayout.structLayout(JAVA_LONG.withName("flags"));
    /** {@code struct vfio_device_feature_mig_state}. */
    private static final StructLayout MIG_STATE = MemoryLayout.structLayout(
            JAVA_INT.withName("device_state"), JAVA_INT.withName("data_fd"));
    /** {@code struct vfio_device_feature_mig_data_size} (newer). */
    private static final StructLayout MIG_DATA_SIZE = MemoryLayout.structLayout(
            JAVA_LONG.withName("stop_copy_length"));
    /** {@code struct vfio_device_feature_dma_logging_control}. */
    private static final StructLayout DMA_LOGGING_CONTROL = MemoryLayout.structLayout(
            JAVA_LONG.withName("page_size"), JAVA_INT.withName("num_ranges"), JAVA_INT.withName("__reserved"),
            JAVA_LONG.withName("ranges"));
    /** {@code struct vfio_device_feature_dma_logging_range}. */
    private static final StructLayout DMA_LOGGING_RANGE = MemoryLayout.structLayout(
            JAVA_LONG.withName("iova"), JAVA_LONG.withName("length"));
    /** {@code struct vfio_device_feature_dma_logging_report}. */
    private static final StructLayout DMA_LOGGING_REPORT = MemoryLayout.structLayout(
            JAVA_LONG.withName("iova"), JAVA_LONG.withName("length"), JAVA_LONG.withName("page_size"),
            JAVA_LONG.withName("bitmap"));
    /** {@code struct vfio_precopy_info} (newer). */
    private static final StructLayout PRECOPY_INFO = MemoryLayout.structLayout(
            JAVA_INT.withName("argsz"), JAVA_INT.withName("flags"), JAVA_LONG.withName("initial_bytes"),
            JAVA_LONG.withName("dirty_bytes"));
    /**
     * The leading fields of {@code struct vfio_device_info} that every kernel accepts (its
     * {@code minsz}, up to {@code num_irqs}); later fields are optional by {@code argsz}.
     */
    private static final StructLayout DEVICE_INFO = MemoryLayout.structLayout(
            JAVA_INT.withName("argsz"), JAVA_INT.withName("flags"), JAVA_INT.withName("num_regions"),
            JAVA_INT.withName("num_irqs"));

    private static int size(StructLayout l) {
        return (int) l.byteSize();
    }

    private static int offset(StructLayout l, String field) {
        return (int) l.byteOffset(groupElement(field));
    }

    // ---- ioctls ----
    /** {@code VFIO_DEVICE_GET_INFO}, on a device fd: its flags and region and IRQ counts. */
    public static final long DEVICE_GET_INFO = io(7);
    /** {@code VFIO_DEVICE_FEATURE}, on a device fd: get, set or probe one feature. */
    public static final long DEVICE_FEATURE = io(17);
    /** {@code VFIO_MIG_GET_PRECOPY_INFO} (newer), on a data fd in a PRE_COPY state. */
    public static final long MIG_GET_PRECOPY_INFO = io(21);

    // ---- struct vfio_device_feature.flags ----
    /** {@code VFIO_DEVICE_FEATURE_MASK}: the low 16 bits hold the feature index. */
    public static final int DEVICE_FEATURE_MASK = 0xffff;
    /** {@code VFIO_DEVICE_FEATURE_GET}: the kernel fills {@code data[]}. */
    public static final int DEVICE_FEATURE_GET = 1 << 16;
    /** {@code VFIO_DEVICE_FEATURE_SET}: the kernel reads {@code data[]}. */
    public static final int DEVICE_FEATURE_SET = 1 << 17;
    /** {@code VFIO_DEVICE_FEATURE_PROBE}: only asks whether the feature (and GET/SET) is supported. */
    public static final int DEVICE_FEATURE_PROBE = 1 << 18;

    // ---- feature indices ----
    /** {@code VFIO_DEVICE_FEATURE_MIGRATION}: GET the migration flags. */
    public static final int DEVICE_FEATURE_MIGRATION = 1;
    /** {@code VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE}: GET or SET the migration state. */
    public static final int DEVICE_FEATURE_MIG_DEVICE_STATE = 2;
    /** {@code VFIO_DEVICE_FEATURE_DMA_LOGGING_START}: SET, with the ranges to log. */
    public static final int DEVICE_FEATURE_DMA_LOGGING_START = 6;
    /** {@code VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP}: SET, no data. */
    public static final int DEVICE_FEATURE_DMA_LOGGING_STOP = 7;
    /** {@code VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT}: GET, read and clear the log of a range. */
    public static final int DEVICE_FEATURE_DMA_LOGGING_REPORT = 8;
    /** {@code VFIO_DEVICE_FEATURE_MIG_DATA_SIZE} (newer): GET what a STOP_COPY would read. */
    public static final int DEVICE_FEATURE_MIG_DATA_SIZE = 9;

    // ---- struct vfio_device_feature_migration.flags ----
    /** {@code VFIO_MIGRATION_STOP_COPY}: STOP, STOP_COPY and RESUMING are supported. */
    public static final long MIGRATION_STOP_COPY = 1L << 0;
    /** {@code VFIO_MIGRATION_P2P}: RUNNING_P2P is supported. */
    public static final long MIGRATION_P2P = 1L << 1;
    /** {@code VFIO_MIGRATION_PRE_COPY} (newer): PRE_COPY, and PRE_COPY_P2P with P2P. */
    public static final long MIGRATION_PRE_COPY = 1L << 2;

    // ---- struct sizes in bytes ----
    /** {@code sizeof(struct vfio_device_feature)}: the header before the feature's data. */
    public static final int FEATURE_BYTES = size(FEATURE);
    /** {@code sizeof(struct vfio_device_feature_migration)}. */
    public static final int MIGRATION_BYTES = size(MIGRATION);
    /** {@code sizeof(struct vfio_device_feature_mig_state)}. */
    public static final int MIG_STATE_BYTES = size(MIG_STATE);
    /** {@code sizeof(struct vfio_device_feature_mig_data_size)} (newer). */
    public static final int MIG_DATA_SIZE_BYTES = size(MIG_DATA_SIZE);
    /** {@code sizeof(struct vfio_device_feature_dma_logging_control)}. */
    public static final int DMA_LOGGING_CONTROL_BYTES = size(DMA_LOGGING_CONTROL);
    /** {@code sizeof(struct vfio_device_feature_dma_logging_range)}. */
    public static final int DMA_LOGGING_RANGE_BYTES = size(DMA_LOGGING_RANGE);
    /** {@code sizeof(struct vfio_device_feature_dma_logging_report)}. */
    public static final int DMA_LOGGING_REPORT_BYTES = size(DMA_LOGGING_REPORT);
    /** {@code sizeof(struct vfio_precopy_info)} (newer). */
    public static final int PRECOPY_INFO_BYTES = size(PRECOPY_INFO);
    /** {@code offsetofend(struct vfio_device_info, num_irqs)}: the kernel's minimum argsz. */
    public static final int DEVICE_INFO_MIN_BYTES = size(DEVICE_INFO);

    // ---- field offsets in bytes ----
    /** {@code vfio_device_feature.argsz}, a {@code __u32}: header plus data. */
    public static final int FEATURE_ARGSZ = offset(FEATURE, "argsz");
    /** {@code vfio_device_feature.flags}, a {@code __u32}. */
    public static final int FEATURE_FLAGS = offset(FEATURE, "flags");
    /** {@code vfio_device_feature.data}: where the feature's struct starts. */
    public static final int FEATURE_DATA = size(FEATURE);
    /** {@code vfio_device_feature_migration.flags}, a {@code __u64}. */
    public static final int MIGRATION_FLAGS = offset(MIGRATION, "flags");
    /** {@code vfio_device_feature_mig_state.device_state}, a {@code __u32}. */
    public static final int MIG_STATE_DEVICE_STATE = offset(MIG_STATE, "device_state");
    /** {@code vfio_device_feature_mig_state.data_fd}, a {@code __s32}: -1, or a new data fd. */
    public static final int MIG_STATE_DATA_FD = offset(MIG_STATE, "data_fd");
    /** {@code vfio_device_feature_mig_data_size.stop_copy_length}, a {@code __u64} (newer). */
    public static final int MIG_DATA_SIZE_STOP_COPY_LENGTH = offset(MIG_DATA_SIZE, "stop_copy_length");
    /** {@code vfio_device_feature_dma_logging_control.page_size}: a hint in, the chosen size out. */
    public static final int DMA_LOGGING_CONTROL_PAGE_SIZE = offset(DMA_LOGGING_CONTROL, "page_size");
    /** {@code vfio_device_feature_dma_logging_control.num_ranges}, a {@code __u32}. */
    public static final int DMA_LOGGING_CONTROL_NUM_RANGES = offset(DMA_LOGGING_CONTROL, "num_ranges");
    /** {@code vfio_device_feature_dma_logging_control.ranges}: a user pointer to the ranges. */
    public static final int DMA_LOGGING_CONTROL_RANGES = offset(DMA_LOGGING_CONTROL, "ranges");
    /** {@code vfio_device_feature_dma_logging_range.iova}. */
    public static final int DMA_LOGGING_RANGE_IOVA = offset(DMA_LOGGING_RANGE, "iova");
    /** {@code vfio_device_feature_dma_logging_range.length}. */
    public static final int DMA_LOGGING_RANGE_LENGTH = offset(DMA_LOGGING_RANGE, "length");
    /** {@code vfio_device_feature_dma_logging_report.iova}. */
    public static final int DMA_LOGGING_REPORT_IOVA = offset(DMA_LOGGING_REPORT, "iova");
    /** {@code vfio_device_feature_dma_logging_report.length}. */
    public static final int DMA_LOGGING_REPORT_LENGTH = offset(DMA_LOGGING_REPORT, "length");
    /** {@code vfio_device_feature_dma_logging_report.page_size}: one bit per this many bytes. */
    public static final int DMA_LOGGING_REPORT_PAGE_SIZE = offset(DMA_LOGGING_REPORT, "page_size");
    /** {@code vfio_device_feature_dma_logging_report.bitmap}: a user pointer to {@code __u64}s. */
    public static final int DMA_LOGGING_REPORT_BITMAP = offset(DMA_LOGGING_REPORT, "bitmap");
    /** {@code vfio_precopy_info.argsz}, a {@code __u32} (newer). */
    public static final int PRECOPY_INFO_ARGSZ = offset(PRECOPY_INFO, "argsz");
    /** {@code vfio_precopy_info.flags}, a {@code __u32} (newer). */
    public static final int PRECOPY_INFO_FLAGS = offset(PRECOPY_INFO, "flags");
    /** {@code vfio_precopy_info.initial_bytes}, a {@code __u64} (newer). */
    public static final int PRECOPY_INFO_INITIAL_BYTES = offset(PRECOPY_INFO, "initial_bytes");
    /** {@code vfio_precopy_info.dirty_bytes}, a {@code __u64} (newer). */
    public static final int PRECOPY_INFO_DIRTY_BYTES = offset(PRECOPY_INFO, "dirty_bytes");
    /** {@code vfio_device_info.argsz}, a {@code __u32}. */
    public static final int DEVICE_INFO_ARGSZ = offset(DEVICE_INFO, "argsz");

    // ---- encoders and decoders ----

    /**
     * A {@code struct vfio_device_feature} followed by {@code dataBytes} of zeroed feature data,
     * with {@code argsz} and {@code flags} set.
     *
     * @param arena     where to allocate it
     * @param flags     GET, SET and/or PROBE
     * @param feature   the feature index
     * @param dataBytes the size of the feature's struct, 0 for none
     * @return the argument of {@link #DEVICE_FEATURE}; its data starts at {@link #FEATURE_DATA}
     */
    public static MemorySegment feature(Arena arena, int flags, int feature, int dataBytes) {
        if ((feature & ~DEVICE_FEATURE_MASK) != 0) {
            throw new IllegalArgumentException("feature index " + feature + " does not fit 16 bits");
        }
        MemorySegment s = arena.allocate(FEATURE_BYTES + (long) dataBytes, 8);
        s.set(JAVA_INT, FEATURE_ARGSZ, FEATURE_BYTES + dataBytes);
        s.set(JAVA_INT, FEATURE_FLAGS, flags | feature);
        return s;
    }

    /**
     * {@return the feature data of a {@link #feature} argument}
     *
     * @param feature the argument
     */
    public static MemorySegment data(MemorySegment feature) {
        return feature.asSlice(FEATURE_DATA);
    }

    /**
     * {@return the states a device supports, from its {@code vfio_device_feature_migration.flags}}
     *
     * @param flags the flags the MIGRATION feature returned
     * @throws IllegalArgumentException if {@link #MIGRATION_STOP_COPY} is missing (the header
     *                                  makes it mandatory)
     */
    public static Set<DeviceState> supportedStates(long flags) {
        if ((flags & MIGRATION_STOP_COPY) == 0) {
            throw new IllegalArgumentException("migration flags 0x" + Long.toHexString(flags)
                    + " lack VFIO_MIGRATION_STOP_COPY, which every migratable device sets");
        }
        Set<DeviceState> states = EnumSet.copyOf(DeviceState.MANDATORY);
        if ((flags & MIGRATION_P2P) != 0) {
            states.add(DeviceState.RUNNING_P2P);
        }
        if ((flags & MIGRATION_PRE_COPY) != 0) {
            states.add(DeviceState.PRE_COPY);
            if ((flags & MIGRATION_P2P) != 0) {
                states.add(DeviceState.PRE_COPY_P2P);
            }
        }
        return states;
    }

    /**
     * {@return {@code vfio_device_feature_migration.flags}}
     *
     * @param data the feature's data
     */
    public static long migrationFlags(MemorySegment data) {
        return data.get(JAVA_LONG, MIGRATION_FLAGS);
    }

    /**
     * Writes a {@code struct vfio_device_feature_mig_state} asking for {@code state}.
     *
     * @param data  the feature's data, {@link #MIG_STATE_BYTES} at least
     * @param state the state asked for
     */
    public static void encodeMigState(MemorySegment data, DeviceState state) {
        data.set(JAVA_INT, MIG_STATE_DEVICE_STATE, state.vfioValue());
        data.set(JAVA_INT, MIG_STATE_DATA_FD, -1);
    }

    /**
     * {@return {@code vfio_device_feature_mig_state.device_state} as a state}
     *
     * @param data the feature's data
     */
    public static DeviceState migState(MemorySegment data) {
        return DeviceState.ofVfioValue(data.get(JAVA_INT, MIG_STATE_DEVICE_STATE));
    }

    /**
     * {@return {@code vfio_device_feature_mig_state.data_fd}: a new data fd, or -1}
     *
     * @param data the feature's data
     */
    public static int migStateDataFd(MemorySegment data) {
        return data.get(JAVA_INT, MIG_STATE_DATA_FD);
    }

    /**
     * {@return {@code vfio_device_feature_mig_data_size.stop_copy_length}}
     *
     * @param data the feature's data
     */
    public static long stopCopyLength(MemorySegment data) {
        return data.get(JAVA_LONG, MIG_DATA_SIZE_STOP_COPY_LENGTH);
    }

    /**
     * Writes a {@code struct vfio_device_feature_dma_logging_control}.
     *
     * @param data          the feature's data, {@link #DMA_LOGGING_CONTROL_BYTES} at least
     * @param pageSizeBytes the tracking granularity asked for (the device may choose another)
     * @param ranges        {@code count} ranges written by {@link #encodeRange}, kept alive
     *                      until the ioctl returns
     * @param count         the number of ranges
     */
    public static void encodeDmaLoggingControl(MemorySegment data, long pageSizeBytes, MemorySegment ranges,
                                               int count) {
        data.set(JAVA_LONG, DMA_LOGGING_CONTROL_PAGE_SIZE, pageSizeBytes);
        data.set(JAVA_INT, DMA_LOGGING_CONTROL_NUM_RANGES, count);
        data.set(JAVA_INT, DMA_LOGGING_CONTROL_NUM_RANGES + 4, 0);
        data.set(JAVA_LONG, DMA_LOGGING_CONTROL_RANGES, ranges.address());
    }

    /**
     * {@return {@code vfio_device_feature_dma_logging_control.page_size}}
     *
     * @param data the feature's data
     */
    public static long dmaLoggingPageSize(MemorySegment data) {
        return data.get(JAVA_LONG, DMA_LOGGING_CONTROL_PAGE_SIZE);
    }

    /**
     * Writes range {@code index} of an array of {@code struct vfio_device_feature_dma_logging_range}.
     *
     * @param ranges      the array
     * @param index       the range's index
     * @param iova        the first I/O virtual address
     * @param lengthBytes the range's length
     */
    public static void encodeRange(MemorySegment ranges, int index, long iova, long lengthBytes) {
        long at = (long) index * DMA_LOGGING_RANGE_BYTES;
        ranges.set(JAVA_LONG, at + DMA_LOGGING_RANGE_IOVA, iova);
        ranges.set(JAVA_LONG, at + DMA_LOGGING_RANGE_LENGTH, lengthBytes);
    }

    /**
     * Writes a {@code struct vfio_device_feature_dma_logging_report}.
     *
     * @param data          the feature's data, {@link #DMA_LOGGING_REPORT_BYTES} at least
     * @param iova          the first address of the range to report
     * @param lengthBytes   the range's length
     * @param pageSizeBytes the bytes each bit stands for, a power of two
     * @param bitmap        zeroed {@code __u64}s, one bit per page of the range (the kernel only
     *                      sets bits), kept alive until the ioctl returns
     */
    public static void encodeDmaLoggingReport(MemorySegment data, long iova, long lengthBytes, long pageSizeBytes,
                                              MemorySegment bitmap) {
        data.set(JAVA_LONG, DMA_LOGGING_REPORT_IOVA, iova);
        data.set(JAVA_LONG, DMA_LOGGING_REPORT_LENGTH, lengthBytes);
        data.set(JAVA_LONG, DMA_LOGGING_REPORT_PAGE_SIZE, pageSizeBytes);
        data.set(JAVA_LONG, DMA_LOGGING_REPORT_BITMAP, bitmap.address());
    }

    /**
     * {@return a {@code struct vfio_precopy_info} with its {@code argsz} set, the argument of
     * {@link #MIG_GET_PRECOPY_INFO}}
     *
     * @param arena where to allocate it
     */
    public static MemorySegment precopyInfo(Arena arena) {
        MemorySegment s = arena.allocate(PRECOPY_INFO);
        s.set(JAVA_INT, PRECOPY_INFO_ARGSZ, PRECOPY_INFO_BYTES);
        return s;
    }

    /**
     * {@return the bytes left in pre-copy: {@code initial_bytes + dirty_bytes}, saturated}
     *
     * @param info a {@link #precopyInfo} the kernel filled
     */
    public static long precopyPendingBytes(MemorySegment info) {
        long initial = info.get(JAVA_LONG, PRECOPY_INFO_INITIAL_BYTES);
        long dirty = info.get(JAVA_LONG, PRECOPY_INFO_DIRTY_BYTES);
        long sum = initial + dirty;
        return initial < 0 || dirty < 0 || sum < 0 ? Long.MAX_VALUE : sum;
    }

    /**
     * {@return a {@code struct vfio_device_info} of its minimum size with {@code argsz} set}
     *
     * @param arena where to allocate it
     */
    public static MemorySegment deviceInfo(Arena arena) {
        MemorySegment s = arena.allocate(DEVICE_INFO);
        s.set(JAVA_INT, DEVICE_INFO_ARGSZ, DEVICE_INFO_MIN_BYTES);
        return s;
    }

    /**
     * {@return the {@code __u64} words a report bitmap of {@code pageCount} pages needs}
     *
     * @param pageCount pages
     */
    public static long bitmapWords(long pageCount) {
        return (pageCount + 63) >>> 6;
    }

    /**
     * ORs a DMA logging report's bitmap into {@code into}: bit {@code i} of the bitmap (bit
     * {@code i % 64} of word {@code i / 64}, little-endian {@code __u64}s as the kernel's
     * iova_bitmap writes them) is page {@code firstPage + i}. Bits past {@code pageCount} are
     * ignored.
     *
     * @param into      the set to add to
     * @param firstPage the page of the report's first address
     * @param pageCount the pages the report covered
     * @param bitmap    {@link #bitmapWords}{@code (pageCount)} words at least
     */
    public static void orBitmap(PageSet into, long firstPage, long pageCount, MemorySegment bitmap) {
        long words = bitmapWords(pageCount);
        int shift = (int) (firstPage & 63);
        long base = firstPage >>> 6;
        for (long w = 0; w < words; w++) {
            long bits = bitmap.getAtIndex(JAVA_LONG, w);
            if (bits == 0) {
                continue;
            }
            long valid = pageCount - (w << 6);
            if (valid < 64) {
                bits &= (1L << valid) - 1;
            }
            orWord(into, base + w, bits << shift);
            if (shift != 0) {
                orWord(into, base + w + 1, bits >>> (64 - shift));
            }
        }
    }

    private static void orWord(PageSet into, long index, long bits) {
        if (bits != 0 && index < into.wordCount()) {
            into.orWord((int) index, bits);
        }
    }
}
