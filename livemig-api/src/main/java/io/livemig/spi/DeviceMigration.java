package io.livemig.spi;

import java.nio.ByteBuffer;
import java.util.Set;

/**
 * A device's migration as VFIO migration v2 defines it: a state machine ({@link DeviceState})
 * and a data stream read out while saving and written in while resuming. It is the optional
 * capability of a {@link MigratableDevice} whose state is large or changes while it runs (a GPU,
 * a NIC with its queues, an NVMe controller): with {@link DeviceState#PRE_COPY} the engine reads
 * the state iteratively during the live copy, beside the pages, and only what changed since in
 * the downtime.
 *
 * <p><b>How the engine drives it.</b> Source: {@code RUNNING -> PRE_COPY} at the start of the
 * live copy (if supported), reading {@link #read} each round and counting {@link #pendingBytes()}
 * in the expected downtime; after the vCPUs stop, every device to {@code PRE_COPY_P2P} or
 * {@code RUNNING_P2P} first (when supported: no device starts DMA to a peer that is already
 * stopped), then each to {@code STOP_COPY}, read to the end of the stream, then {@code STOP}; on
 * a failure before the commit, back to {@code RUNNING}. Destination: {@code STOP}, then
 * {@code RESUMING} while the data is {@link #write written}, {@code STOP} once it is complete (the
 * device checks it then), then {@code RUNNING_P2P} for every device and {@code RUNNING} for each,
 * before the vCPUs resume.
 *
 * <p><b>Threading.</b> Called by one engine thread at a time.
 */
public interface DeviceMigration {

    /** {@return the states this device supports: {@link DeviceState#MANDATORY} and any optional ones} */
    Set<DeviceState> supportedStates();

    /** {@return the device's state now} */
    DeviceState state();

    /**
     * Moves the device to {@code next}, along {@link DeviceState#path} (a combination of arcs).
     * Entering {@link DeviceState#PRE_COPY}, {@link DeviceState#STOP_COPY} from a state that is not
     * saving, or {@link DeviceState#RESUMING} opens a new data stream; leaving the saving or
     * resuming states closes it.
     *
     * @param next the state asked for
     * @throws IllegalStateException if no path leads there from the current state (the device is
     *                               left unchanged)
     * @throws VmOperationException  if the device failed on the way; {@link #state()} then says
     *                               where it stopped, possibly {@link DeviceState#ERROR}
     */
    void transition(DeviceState next);

    /**
     * Reads the next part of the device's state into {@code destination} (from its position up to
     * its limit), in a saving state.
     *
     * @param destination where to put the bytes
     * @return the bytes read; 0 in {@link DeviceState#PRE_COPY} when nothing is ready now; -1 at
     *         the end of the stream in {@link DeviceState#STOP_COPY} (the whole state was read)
     * @throws IllegalStateException if the device is not in a saving state
     * @throws VmOperationException  if the device failed
     */
    int read(ByteBuffer destination);

    /**
     * Writes the next part of a state read from the source's device with the same id, in
     * {@link DeviceState#RESUMING}. The stream is written in the order it was read; its
     * segmentation does not matter.
     *
     * @param source the bytes, from its position up to its limit; all are consumed
     * @throws IllegalStateException if the device is not resuming
     * @throws VmOperationException  if the device failed
     */
    void write(ByteBuffer source);

    /**
     * {@return an estimate of the bytes still to read, for the switchover decision: in
     * {@link DeviceState#PRE_COPY} what is ready now and what changed since (VFIO's
     * {@code VFIO_MIG_GET_PRECOPY_INFO}), elsewhere what a {@link DeviceState#STOP_COPY} would read
     * (VFIO's {@code MIG_DATA_SIZE}); 0 when unknown}
     */
    long pendingBytes();
}
