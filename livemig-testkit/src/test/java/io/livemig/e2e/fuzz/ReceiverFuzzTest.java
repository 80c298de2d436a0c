package io.livemig.e2e.fuzz;

import com.code_intelligence.jazzer.junit.FuzzTest;

/**
 * Fuzzes the destination's whole receive state machine: {@code LiveMigration.receive} against a
 * source that plays the fuzzer's input as a script of forward frames ({@link FuzzScript}). Most
 * records make well-formed frames with a valid CRC (a valid v2 HELLO and AUTH, a SETUP for a small
 * layout, then PAGES in every encoding, state, bitmaps, digests and control frames, with fields a
 * faithful source would not write now and then); some are raw bytes; the seeds are real cold,
 * pre-copy, post-copy and hybrid migrations recorded frame by frame, and the crafted inputs of the
 * protocol tests ({@link ReceiverSeeds}).
 *
 * <p>Whatever the frames, the receive returns or throws a {@code MigrationException}, never
 * anything else and never hangs; a failure before the target resumed closes the target, which
 * never ran ({@link ReceiverRun#assertEndedCleanly()}).
 *
 * <p>In a plain test run Jazzer replays the seeds under {@code ReceiverFuzzTestInputs/}; the
 * build's {@code fuzz} execution fuzzes for real for a bounded time (docs/fuzzing.md).
 */
class ReceiverFuzzTest {

    @FuzzTest(maxDuration = "20s")
    void receiverEndsCleanlyWhateverTheSourceSends(byte[] input) throws InterruptedException {
        ReceiverRun.play(input).assertEndedCleanly();
    }
}
