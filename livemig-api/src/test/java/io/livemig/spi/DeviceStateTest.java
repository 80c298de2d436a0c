package io.livemig.spi;

import org.junit.jupiter.api.Test;

import java.util.EnumSet;
import java.util.List;
import java.util.Set;

import static io.livemig.spi.DeviceState.ERROR;
import static io.livemig.spi.DeviceState.PRE_COPY;
import static io.livemig.spi.DeviceState.PRE_COPY_P2P;
import static io.livemig.spi.DeviceState.RESUMING;
import static io.livemig.spi.DeviceState.RUNNING;
import static io.livemig.spi.DeviceState.RUNNING_P2P;
import static io.livemig.spi.DeviceState.STOP;
import static io.livemig.spi.DeviceState.STOP_COPY;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** {@link DeviceState#path}: the kernel's combination transitions, state by state. */
class DeviceStateTest {

    private static final Set<DeviceState> ALL = EnumSet.allOf(DeviceState.class);
    private static final Set<DeviceState> MANDATORY = DeviceState.MANDATORY;
    private static final Set<DeviceState> P2P = union(MANDATORY, RUNNING_P2P);
    private static final Set<DeviceState> PRE = union(MANDATORY, PRE_COPY);

    private static Set<DeviceState> union(Set<DeviceState> a, DeviceState... more) {
        Set<DeviceState> s = EnumSet.copyOf(a);
        s.addAll(List.of(more));
        return s;
    }

    @Test
    void theValuesAreVfios() {
        assertEquals(List.of(0, 1, 2, 3, 4, 5, 6, 7),
                List.of(ERROR, STOP, RUNNING, STOP_COPY, RESUMING, RUNNING_P2P, PRE_COPY, PRE_COPY_P2P).stream()
                        .map(DeviceState::vfioValue).toList());
        for (DeviceState s : DeviceState.values()) {
            assertEquals(s, DeviceState.ofVfioValue(s.vfioValue()));
        }
        assertThrows(IllegalArgumentException.class, () -> DeviceState.ofVfioValue(8));
    }

    @Test
    void pathsLeaveASavingStateThroughTheP2pStatesNotThroughAnotherSession() {
        assertEquals(List.of(RUNNING_P2P, STOP), DeviceState.path(PRE_COPY_P2P, STOP, ALL));
        assertEquals(List.of(RUNNING_P2P, STOP, RESUMING), DeviceState.path(PRE_COPY_P2P, RESUMING, ALL));
        assertEquals(List.of(PRE_COPY_P2P, STOP_COPY), DeviceState.path(PRE_COPY, STOP_COPY, ALL));
        assertEquals(List.of(RUNNING, RUNNING_P2P, STOP), DeviceState.path(PRE_COPY, STOP, ALL));
        assertEquals(List.of(RUNNING_P2P, STOP, STOP_COPY), DeviceState.path(RUNNING, STOP_COPY, ALL));
    }

    @Test
    void statesADeviceLacksArePassedOver() {
        assertEquals(List.of(STOP), DeviceState.path(RUNNING, STOP, MANDATORY));
        assertEquals(List.of(RUNNING_P2P, STOP), DeviceState.path(RUNNING, STOP, P2P));
        assertEquals(List.of(STOP_COPY), DeviceState.path(PRE_COPY, STOP_COPY, PRE));
        assertEquals(List.of(RUNNING, STOP), DeviceState.path(PRE_COPY, STOP, PRE));
        assertEquals(List.of(STOP, RESUMING), DeviceState.path(RUNNING, RESUMING, MANDATORY));
    }

    @Test
    void refusedChangesSayWhy() {
        assertThrows(IllegalStateException.class, () -> DeviceState.path(STOP_COPY, PRE_COPY, ALL));
        assertThrows(IllegalStateException.class, () -> DeviceState.path(RESUMING, PRE_COPY_P2P, ALL));
        assertThrows(IllegalStateException.class, () -> DeviceState.path(RUNNING, PRE_COPY, MANDATORY));
        assertThrows(IllegalStateException.class, () -> DeviceState.path(ERROR, RUNNING, ALL));
        assertThrows(IllegalStateException.class, () -> DeviceState.path(RUNNING, ERROR, ALL));
        assertThrows(IllegalArgumentException.class, () -> DeviceState.path(RUNNING, STOP, EnumSet.of(RUNNING, STOP)));
    }

    @Test
    void everyAllowedPathFollowsArcsAndEndsWhereAsked() {
        List<Set<DeviceState>> combinations = List.of(MANDATORY, P2P, PRE, ALL);
        for (Set<DeviceState> supported : combinations) {
            for (DeviceState from : supported) {
                for (DeviceState to : supported) {
                    if (from == ERROR || to == ERROR || from == to) {
                        continue;
                    }
                    boolean refusedByKernel = (from == STOP_COPY || from == RESUMING)
                            && (to == PRE_COPY || to == PRE_COPY_P2P);
                    if (refusedByKernel) {
                        assertThrows(IllegalStateException.class, () -> DeviceState.path(from, to, supported));
                        continue;
                    }
                    List<DeviceState> path = DeviceState.path(from, to, supported);
                    assertEquals(to, path.get(path.size() - 1), from + " -> " + to);
                    assertTrue(supported.containsAll(path), "only supported states: " + path);
                    for (int i = 0; i < path.size() - 1; i++) {
                        assertTrue(path.get(i) != STOP_COPY && path.get(i) != RESUMING,
                                from + " -> " + to + " opens a session on the way: " + path);
                    }
                }
            }
        }
    }
}
