package io.livemig.kit.contract;

/**
 * The root of the provider contract suite: every contract interface reads the provider's VMs
 * from {@link #fixture()}. A vendor implements it once, in {@link ProviderContract} or in a test
 * class that implements only some of the contract interfaces.
 *
 * <p>JUnit 5 runs the {@code default} test methods of the interfaces a test class implements,
 * one new instance per test method; {@link #fixture()} is called by each test.
 */
public interface ContractTest {

    /**
     * The provider under test.
     *
     * @return the fixture that makes this provider's VMs; may be a new one per call
     */
    ProviderFixture fixture();
}
