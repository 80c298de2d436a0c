package io.livemig.kit.contract;

/**
 * The whole provider contract suite in one class: a hypervisor vendor extends it with a JUnit 5
 * test class that returns a {@link ProviderFixture} for their provider, and gets every check of
 * {@link MemoryContract}, {@link DirtyTrackingContract}, {@link VcpuContract},
 * {@link DeviceContract}, {@link ThrottleContract}, {@link DemandPagingContract} and
 * {@link MigrationContract}:
 *
 * <pre>{@code
 * class AcmeProviderContractTest extends ProviderContract {
 *     @Override
 *     public ProviderFixture fixture() {
 *         return new ProviderFixture() {
 *             public MigratableVm openSource() throws Exception {
 *                 return new AcmeProvider().open(URI.create("acme:test?mem=32M&workload=random"));
 *             }
 *             public MigrationTarget createTarget(VmDescriptor d) throws Exception {
 *                 return new AcmeProvider().createTarget(URI.create("acme:?"), d);
 *             }
 *         };
 *     }
 * }
 * }</pre>
 *
 * <p>A vendor who wants only some checks implements the contract interfaces one by one instead.
 * A check whose optional capability the provider lacks is skipped (a JUnit assumption naming the
 * capability); a failing check's message names the broken promise.
 *
 * <p><b>Dependencies.</b> The suite needs {@code junit-jupiter-api} at compile time; the test kit
 * declares it optional, so a project that uses the kit without the suite does not get JUnit from
 * it, and one that runs the suite has JUnit 5 in its tests already.
 *
 * <p><b>Threading.</b> JUnit makes one instance per test method; each check opens its own VMs from
 * the fixture and closes them, so checks may run in parallel if the provider allows several VMs.
 */
public abstract class ProviderContract implements MemoryContract, DirtyTrackingContract, VcpuContract, DeviceContract,
        ThrottleContract, DemandPagingContract, MigrationContract {

    /** For subclasses. */
    protected ProviderContract() {
    }
}
