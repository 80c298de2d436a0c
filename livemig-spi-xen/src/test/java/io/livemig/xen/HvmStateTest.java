package io.livemig.xen;

import io.livemig.xen.internal.HvmState;
import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The xen-hvm-v1 vCPU state: what is encoded decodes to itself, and anything else is refused. */
class HvmStateTest {

    private static final HvmState STATE = new HvmState(new long[] {1, 0xfeffcL, 17, 0xfeffbL}, new byte[] {1, 2, 3, 4, 5});

    @Test
    void anEncodedStateDecodesToItself() {
        assertEquals(STATE, HvmState.decode(STATE.encode()));
        HvmState empty = new HvmState(new long[0], new byte[0]);
        assertEquals(empty, HvmState.decode(empty.encode()));
    }

    @Test
    void aBadMagicVersionOrLengthIsRefused() {
        byte[] good = STATE.encode();
        byte[] magic = good.clone();
        magic[0] ^= 1;
        assertTrue(assertThrows(IllegalArgumentException.class, () -> HvmState.decode(magic)).getMessage()
                .contains("bad magic"));
        byte[] version = good.clone();
        version[4] = 2;
        assertThrows(IllegalArgumentException.class, () -> HvmState.decode(version));
        assertThrows(IllegalArgumentException.class, () -> HvmState.decode(Arrays.copyOf(good, good.length - 1)));
        assertThrows(IllegalArgumentException.class, () -> HvmState.decode(Arrays.copyOf(good, good.length + 1)));
        assertThrows(IllegalArgumentException.class, () -> HvmState.decode(Arrays.copyOf(good, 10)));
        byte[] pairs = good.clone();
        pairs[8] = (byte) 0xff;
        assertThrows(IllegalArgumentException.class, () -> HvmState.decode(pairs));
    }
}
