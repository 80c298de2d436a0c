package io.livemig.kit;

import io.livemig.kit.internal.DeviceChunks;
import io.livemig.spi.DeviceState;

import java.util.EnumSet;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * What a {@link StatefulDevice} is: its shape (name, state size, chunk size, supported migration
 * states) and its activity while it runs (chunk writes into its own state, and optionally DMA
 * writes into guest memory).
 *
 * <p>The shape is what a destination needs to make the matching device, and a
 * {@link io.livemig.spi.VmDescriptor} carries only device ids, so the device's {@link #id()}
 * spells the shape: {@code name@stateBytes/chunkBytes/states}, e.g. {@code gpu0@268435456/65536/p2p+precopy}.
 * {@link #parseId} reads it back. The activity travels in the device's data stream instead.
 *
 * @param name                a name, letters, digits, {@code .}, {@code _} and {@code -}
 * @param stateBytes          the device's internal state, a positive multiple of {@code chunkBytes}
 * @param chunkBytes          the unit of its writes and of its data stream, a multiple of 8 from
 *                            64 bytes to 16 MiB
 * @param supportedStates     one of the four sets {@link #states(boolean, boolean)} gives; copied
 * @param writeBytesPerSecond chunk writes while it runs: whole chunks, uniformly over the state, at
 *                            this rate; 0 for none
 * @param seed                seeds which chunks and which guest pages it writes; not 0
 * @param dmaFirstPage        the first guest page its DMA writes (when {@code dmaBytesPerSecond > 0})
 * @param dmaPageCount        the guest pages its DMA writes, from {@code dmaFirstPage}
 * @param dmaBytesPerSecond   whole-page DMA writes into guest memory while it runs, uniformly over
 *                            its pages; 0 for none
 */
public record StatefulDeviceSpec(String name, long stateBytes, int chunkBytes, Set<DeviceState> supportedStates,
                                 long writeBytesPerSecond, long seed, long dmaFirstPage, long dmaPageCount,
                                 long dmaBytesPerSecond) {

    /** The largest chunk. */
    public static final int MAX_CHUNK_BYTES = 16 << 20;
    /** The most chunks a state may have. */
    public static final long MAX_CHUNKS = 1L << 26;
    private static final Pattern NAME = Pattern.compile("[A-Za-z0-9._-]+");
    private static final Pattern ID = Pattern.compile("([A-Za-z0-9._-]+)@(\\d{1,19})/(\\d{1,9})/(mandatory|p2p|precopy|p2p\\+precopy)");

    /**
     * Checks the components.
     *
     * @throws IllegalArgumentException for a bad name, shape, state set, rate, seed or DMA range
     */
    public StatefulDeviceSpec {
        Objects.requireNonNull(name, "name");
        if (!NAME.matcher(name).matches()) {
            throw new IllegalArgumentException("a device name is letters, digits, '.', '_' and '-', was '" + name + "'");
        }
        if (chunkBytes < DeviceChunks.MIN_CHUNK_BYTES || chunkBytes > MAX_CHUNK_BYTES || chunkBytes % 8 != 0) {
            throw new IllegalArgumentException("chunkBytes must be a multiple of 8 in [" + DeviceChunks.MIN_CHUNK_BYTES
                    + ", " + MAX_CHUNK_BYTES + "], was " + chunkBytes);
        }
        if (stateBytes <= 0 || stateBytes % chunkBytes != 0 || stateBytes / chunkBytes > MAX_CHUNKS) {
            throw new IllegalArgumentException("stateBytes must be a positive multiple of the chunk size " + chunkBytes
                    + ", at most " + MAX_CHUNKS + " chunks, was " + stateBytes);
        }
        supportedStates = Set.copyOf(supportedStates);
        if (!supportedStates.equals(states(false, false)) && !supportedStates.equals(states(true, false))
                && !supportedStates.equals(states(false, true)) && !supportedStates.equals(states(true, true))) {
            throw new IllegalArgumentException("supported states must be the mandatory ones, with RUNNING_P2P, with "
                    + "PRE_COPY, or with all three optional ones; was " + supportedStates);
        }
        if (writeBytesPerSecond < 0 || dmaBytesPerSecond < 0) {
            throw new IllegalArgumentException("rates must be >= 0");
        }
        if (seed == 0) {
            throw new IllegalArgumentException("seed must not be 0");
        }
        if (dmaFirstPage < 0 || dmaPageCount < 0 || (dmaBytesPerSecond > 0 && dmaPageCount == 0)) {
            throw new IllegalArgumentException("DMA needs a range of pages: first " + dmaFirstPage + ", count "
                    + dmaPageCount);
        }
    }

    /**
     * {@return a device of that state size: 64 KiB chunks (or the whole state, if smaller), every
     * optional state supported, idle (no writes, no DMA), seed 1}
     *
     * @param name       its name
     * @param stateBytes its state size, a multiple of the chunk size
     */
    public static StatefulDeviceSpec of(String name, long stateBytes) {
        return new StatefulDeviceSpec(name, stateBytes, (int) Math.min(64 << 10, stateBytes), states(true, true),
                0, 1, 0, 0, 0);
    }

    /**
     * {@return this device with another chunk size}
     *
     * @param bytes the chunk size
     */
    public StatefulDeviceSpec withChunkBytes(int bytes) {
        return new StatefulDeviceSpec(name, stateBytes, bytes, supportedStates, writeBytesPerSecond, seed,
                dmaFirstPage, dmaPageCount, dmaBytesPerSecond);
    }

    /**
     * {@return this device with other supported states}
     *
     * @param p2p     whether it supports {@link DeviceState#RUNNING_P2P}
     * @param preCopy whether it supports {@link DeviceState#PRE_COPY}
     */
    public StatefulDeviceSpec withStates(boolean p2p, boolean preCopy) {
        return new StatefulDeviceSpec(name, stateBytes, chunkBytes, states(p2p, preCopy), writeBytesPerSecond, seed,
                dmaFirstPage, dmaPageCount, dmaBytesPerSecond);
    }

    /**
     * {@return this device writing its state while it runs}
     *
     * @param bytesPerSecond chunk writes, bytes per second
     * @param seedValue      which chunks, not 0
     */
    public StatefulDeviceSpec withWrites(long bytesPerSecond, long seedValue) {
        return new StatefulDeviceSpec(name, stateBytes, chunkBytes, supportedStates, bytesPerSecond, seedValue,
                dmaFirstPage, dmaPageCount, dmaBytesPerSecond);
    }

    /**
     * {@return this device writing guest memory while it runs (it must be attached to an
     * {@link InMemoryVm})}
     *
     * @param firstPage      the first guest page it writes
     * @param pageCount      the pages, from the first, all RAM
     * @param bytesPerSecond whole-page writes, bytes per second
     */
    public StatefulDeviceSpec withDma(long firstPage, long pageCount, long bytesPerSecond) {
        return new StatefulDeviceSpec(name, stateBytes, chunkBytes, supportedStates, writeBytesPerSecond, seed,
                firstPage, pageCount, bytesPerSecond);
    }

    /** {@return the number of chunks} */
    public int chunkCount() {
        return (int) (stateBytes / chunkBytes);
    }

    /** {@return the device id, which spells the shape: {@code name@stateBytes/chunkBytes/states}} */
    public String id() {
        boolean p2p = supportedStates.contains(DeviceState.RUNNING_P2P);
        boolean preCopy = supportedStates.contains(DeviceState.PRE_COPY);
        String states = p2p && preCopy ? "p2p+precopy" : p2p ? "p2p" : preCopy ? "precopy" : "mandatory";
        return name + "@" + stateBytes + "/" + chunkBytes + "/" + states;
    }

    /**
     * Reads a device id back: the shape it spells, idle, seed 1.
     *
     * @param id a device id
     * @return the shape, or empty if the id is not a stateful device's
     */
    public static Optional<StatefulDeviceSpec> parseId(String id) {
        Matcher m = ID.matcher(id);
        if (!m.matches()) {
            return Optional.empty();
        }
        try {
            String states = m.group(4);
            return Optional.of(new StatefulDeviceSpec(m.group(1), Long.parseLong(m.group(2)),
                    Integer.parseInt(m.group(3)), states(states.startsWith("p2p"), states.endsWith("precopy")),
                    0, 1, 0, 0, 0));
        } catch (IllegalArgumentException e) {
            return Optional.empty();
        }
    }

    /**
     * {@return a supported-state set: the mandatory states, with the optional ones asked for
     * ({@link DeviceState#PRE_COPY_P2P} comes with both)}
     *
     * @param p2p     with {@link DeviceState#RUNNING_P2P}
     * @param preCopy with {@link DeviceState#PRE_COPY}
     */
    public static Set<DeviceState> states(boolean p2p, boolean preCopy) {
        EnumSet<DeviceState> s = EnumSet.copyOf(DeviceState.MANDATORY);
        if (p2p) {
            s.add(DeviceState.RUNNING_P2P);
        }
        if (preCopy) {
            s.add(DeviceState.PRE_COPY);
        }
        if (p2p && preCopy) {
            s.add(DeviceState.PRE_COPY_P2P);
        }
        return Set.copyOf(s);
    }
}
