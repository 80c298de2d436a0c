package io.livemig.kit;

import io.livemig.spi.DeviceMigration;
import io.livemig.spi.DeviceState;
import io.livemig.spi.VmOperationException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.EnumSet;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

import static io.livemig.spi.DeviceState.ERROR;
import static io.livemig.spi.DeviceState.PRE_COPY;
import static io.livemig.spi.DeviceState.PRE_COPY_P2P;
import static io.livemig.spi.DeviceState.RESUMING;
import static io.livemig.spi.DeviceState.RUNNING;
import static io.livemig.spi.DeviceState.RUNNING_P2P;
import static io.livemig.spi.DeviceState.STOP;
import static io.livemig.spi.DeviceState.STOP_COPY;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every transition of the stateful device's state machine, valid and invalid, for each of the four
 * supported-state sets: valid exactly when VFIO's rules give a path (no change at all, or both
 * states supported, neither ERROR, and not from STOP_COPY or RESUMING to a pre-copy state, which
 * would reopen a data session), the path walked is a chain of the kernel's arcs through supported
 * states only, and a refused transition leaves the device where it was.
 */
class StatefulDeviceTransitionTest {

    private static final boolean[][] COMBINATIONS = {{false, false}, {true, false}, {false, true}, {true, true}};

    static Stream<Arguments> everyPairForEverySupportedSet() {
        List<Arguments> cases = new ArrayList<>();
        for (boolean[] c : COMBINATIONS) {
            for (DeviceState from : DeviceState.values()) {
                for (DeviceState to : DeviceState.values()) {
                    cases.add(Arguments.of(c[0], c[1], from, to));
                }
            }
        }
        return cases.stream();
    }

    private static StatefulDeviceSpec spec(boolean p2p, boolean preCopy) {
        return StatefulDeviceSpec.of("fsm", 256).withChunkBytes(64).withStates(p2p, preCopy);
    }

    @ParameterizedTest(name = "p2p={0} precopy={1}: {2} -> {3}")
    @MethodSource("everyPairForEverySupportedSet")
    void aTransitionIsValidExactlyWhenVfioGivesAPathAndWalksIt(boolean p2p, boolean preCopy, DeviceState from,
                                                               DeviceState to) {
        StatefulDeviceSpec spec = spec(p2p, preCopy);
        Set<DeviceState> supported = spec.supportedStates();
        StatefulDevice device = new StatefulDevice(spec, new VirtualTime());
        DeviceMigration m = device.migration().orElseThrow();
        if (!supported.contains(from)) {
            assertThrows(IllegalStateException.class, () -> m.transition(from), "an unsupported state is never entered");
            assertEquals(RUNNING, m.state());
            return;
        }
        driveTo(spec, m, from);
        assertEquals(from, m.state());

        // The kernel reopens no data session on the way: STOP_COPY and RESUMING never lead to pre-copy.
        boolean reopensASession = (from == STOP_COPY || from == RESUMING) && (to == PRE_COPY || to == PRE_COPY_P2P);
        boolean valid = from == to || (from != ERROR && to != ERROR && supported.contains(to) && !reopensASession);
        if (!valid) {
            assertThrows(IllegalStateException.class, () -> m.transition(to));
            assertEquals(from, m.state(), "a refused transition leaves the device unchanged");
            return;
        }
        m.transition(to);
        assertEquals(to, m.state());
        List<DeviceState> walked = device.lastPath();
        assertEquals(DeviceState.path(from, to, supported), walked);
        assertWalkable(from, walked, supported);
        if (from != to) {
            assertEquals(to, walked.get(walked.size() - 1));
        } else {
            assertTrue(walked.isEmpty());
        }
    }

    /** Each step is an arc, or arcs through states the device does not support; no state twice. */
    private static void assertWalkable(DeviceState from, List<DeviceState> walked, Set<DeviceState> supported) {
        Set<DeviceState> seen = new HashSet<>(List.of(from));
        DeviceState at = from;
        for (DeviceState next : walked) {
            assertTrue(supported.contains(next), next + " is supported");
            assertTrue(seen.add(next), next + " entered once");
            assertTrue(reachableThroughUnsupported(at, next, supported), at + " -> " + next + " is an arc");
            at = next;
        }
    }

    private static boolean reachableThroughUnsupported(DeviceState from, DeviceState to, Set<DeviceState> supported) {
        Deque<DeviceState> queue = new ArrayDeque<>(List.of(from));
        Set<DeviceState> visited = EnumSet.of(from);
        while (!queue.isEmpty()) {
            for (DeviceState t : queue.poll().arcs()) {
                if (t == to) {
                    return true;
                }
                if (!supported.contains(t) && visited.add(t)) {
                    queue.add(t);
                }
            }
        }
        return false;
    }

    /** Brings a device to a supported state, ERROR by a refused resume, RESUMING with its stream complete. */
    private static void driveTo(StatefulDeviceSpec spec, DeviceMigration m, DeviceState state) {
        if (state == ERROR) {
            m.transition(RESUMING);
            assertThrows(VmOperationException.class, () -> m.transition(STOP));
            return;
        }
        m.transition(state);
        if (state == RESUMING) {
            m.write(ByteBuffer.wrap(completeStream(spec)));
        }
    }

    /** A whole stream read from a source device of that shape. */
    static byte[] completeStream(StatefulDeviceSpec spec) {
        StatefulDevice source = new StatefulDevice(spec, new VirtualTime());
        DeviceMigration m = source.migration().orElseThrow();
        m.transition(STOP_COPY);
        ByteBuffer all = ByteBuffer.allocate((int) m.pendingBytes() + 1);
        while (m.read(all) >= 0) {
            assertTrue(all.hasRemaining(), "the stream is no longer than its estimate");
        }
        m.transition(STOP);
        return java.util.Arrays.copyOf(all.array(), all.position());
    }

    @Test
    void thePathsAreTheKernelsCombinationTransitions() {
        Set<DeviceState> all = StatefulDeviceSpec.states(true, true);
        Set<DeviceState> mandatory = StatefulDeviceSpec.states(false, false);
        Set<DeviceState> preCopyOnly = StatefulDeviceSpec.states(false, true);
        assertEquals(List.of(RUNNING_P2P, STOP, STOP_COPY), DeviceState.path(RUNNING, STOP_COPY, all));
        assertEquals(List.of(STOP, STOP_COPY), DeviceState.path(RUNNING, STOP_COPY, mandatory));
        assertEquals(List.of(PRE_COPY_P2P, STOP_COPY), DeviceState.path(PRE_COPY, STOP_COPY, all));
        assertEquals(List.of(STOP_COPY), DeviceState.path(PRE_COPY, STOP_COPY, preCopyOnly));
        assertEquals(List.of(STOP, RUNNING_P2P, RUNNING), DeviceState.path(RESUMING, RUNNING, all));
        assertEquals(List.of(STOP, RUNNING), DeviceState.path(STOP_COPY, RUNNING, mandatory));
        assertEquals(List.of(RUNNING_P2P, RUNNING, PRE_COPY), DeviceState.path(STOP, PRE_COPY, all));
    }

    @Test
    void resetLeavesErrorForRunningAndNothingElseDoes() {
        StatefulDevice device = new StatefulDevice(spec(true, true), new VirtualTime());
        DeviceMigration m = device.migration().orElseThrow();
        driveTo(device.spec(), m, ERROR);
        for (DeviceState s : DeviceState.values()) {
            if (s != ERROR) {
                assertThrows(IllegalStateException.class, () -> m.transition(s));
                assertEquals(ERROR, m.state());
            }
        }
        assertThrows(IllegalStateException.class, () -> m.read(ByteBuffer.allocate(64)));
        device.reset();
        assertEquals(RUNNING, m.state());
        m.transition(STOP_COPY);
        assertFalse(device.lastPath().isEmpty());
    }
}
