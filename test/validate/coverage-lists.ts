/**
 * The lists the bad-input coverage check (coverage.test.ts) reads. EXEMPT: entries that need no
 * bad-input property test, each with its reason. PENDING: entries without one yet (issue 12); the
 * check fails when a listed entry gains a test, so the list only shrinks.
 */

const ERROR_CLASS = 'an error class: the library constructs it with its own rule and message text; a caller who constructs one gets the error they asked for';
const UNCHECKED_TWIN = 'the unchecked twin of a checked entry, for the engine\'s hot loops: its contract is that the caller already validated the arguments (the checked entry has the bad-input test)';
const ACCEPTS_ANY = 'accepts any value by design and never throws (a formatter or type guard of unknown input); there is no bad input to refuse';

export const EXEMPT: Record<string, string> = {
  ClaimFailed: ERROR_CLASS,
  ConfigurationError: ERROR_CLASS,
  DirtyRingFullExit: ERROR_CLASS,
  GpaOutsideMemoryError: ERROR_CLASS,
  'GuestMemory.frameForWriteUnchecked': UNCHECKED_TWIN,
  'GuestMemory.frameOfUnchecked': UNCHECKED_TWIN,
  'GuestMemory::wordBaseUnchecked': UNCHECKED_TWIN,
  'GvaWalker.walkRawStagedUnchecked': UNCHECKED_TWIN,
  ImpossibleConfigurationError: ERROR_CLASS,
  InvalidArgumentError: ERROR_CLASS,
  InvalidRegisterStateError: ERROR_CLASS,
  InvariantViolation: ERROR_CLASS,
  LimitExceededError: ERROR_CLASS,
  MisalignedError: ERROR_CLASS,
  MmulabError: ERROR_CLASS,
  'NgpaWalker.peekFrameUnchecked': UNCHECKED_TWIN,
  'NgpaWalker.translateFrameUnchecked': UNCHECKED_TWIN,
  'NgpaWalker.walkRawUnchecked': UNCHECKED_TWIN,
  NonCanonicalAddressError: ERROR_CLASS,
  OperationAbortedError: ERROR_CLASS,
  PageSizeError: ERROR_CLASS,
  PageTableBuildError: ERROR_CLASS,
  SweepError: ERROR_CLASS,
  TraceError: ERROR_CLASS,
  VmBugged: ERROR_CLASS,
  VmDeadError: ERROR_CLASS,
  describeValue: ACCEPTS_ANY,
  richBundle: 'the notebook kernel\'s display dispatcher: it is called on every value a cell shows and answers undefined for any value that is no engine record (no view to pick); the views it dispatches to refuse non-records',
  'Tlb.lookupUnchecked': UNCHECKED_TWIN,
  'Tlb.findUnchecked': UNCHECKED_TWIN,
  'GuestMemory.kindOfGfnUnchecked': UNCHECKED_TWIN,
  'Tlb.fillUnchecked': UNCHECKED_TWIN,
  'Tlb.pscLookupUnchecked': UNCHECKED_TWIN,
  'Tlb.pscFillUnchecked': UNCHECKED_TWIN,
  'Tlb.nestedRefsUnchecked': UNCHECKED_TWIN,
  vpnOfUnchecked: UNCHECKED_TWIN,
  accessCostUnchecked: UNCHECKED_TWIN,
  isCostModel: ACCEPTS_ANY,
  'TraceMachine.accessUnchecked': UNCHECKED_TWIN,
  'TraceMachine.mapUnchecked': UNCHECKED_TWIN,
  'TraceMachine.unmapUnchecked': UNCHECKED_TWIN,
  'TraceMachine.wpUnchecked': UNCHECKED_TWIN,
  'TraceMachine::createUnchecked': UNCHECKED_TWIN,
  'Vm.checkAliveUnchecked': UNCHECKED_TWIN,
  'PageRole::packUnchecked': UNCHECKED_TWIN,
  'PageRole.withUnchecked': UNCHECKED_TWIN,
  'CpuRole::ofUnchecked': UNCHECKED_TWIN,
  'EventLog.recordUnchecked': UNCHECKED_TWIN,
  isCanonicalUnchecked: UNCHECKED_TWIN,
  PageRole: 'a private constructor: TypeScript callers cannot reach it; roles are made by PageRole.pack / fromWord, which check',
  CpuRole: 'a private constructor: TypeScript callers cannot reach it; roles are made by CpuRole.of / fromU64 and calcCpuRole, which check',
};

export const PENDING: string[] = [
  // src/builder/entry-flags.ts
  'leafFlagBits',
  // src/builder/page-table-builder.ts
  'PageTableBuilder.entryAddress',
  // src/builder/table-mode.ts
  'leafLevelOf', 'levelSpan',
  // src/fuzz/fuzz-config.ts
  'fuzzConfig',
  // src/fuzz/fuzz-run.ts
  'FuzzRun', 'FuzzRun.step', 'runFuzz',
  // src/memory/guest-memory.ts
  'GuestMemory.kindOf', 'GuestMemory.read32', 'GuestMemory.read8', 'GuestMemory.slotOf', 'GuestMemory::gpaOf',
  // src/nested/nested-exit.ts
  'describeNestedExit', 'nestedExit',
  // src/nested/ngpa-walk-result.ts
  'asNestedRecord',
  // src/nested/ngpa-walker.ts
  'NgpaWalker', 'NgpaWalker.appendLastEntries', 'NgpaWalker.checkAddress', 'NgpaWalker.encodeAccess',
  'NgpaWalker.lastRecord', 'NgpaWalker.translate', 'NgpaWalker.walk', 'NgpaWalker::ept', 'NgpaWalker::npt',
  'eptAccToRwx',
  // src/nested/walk-2d.ts
  'Walk2D', 'Walk2D.checkAddress', 'Walk2D.translate', 'Walk2D.walk',
  // src/shadow/gpte.ts
  'gpteAccess', 'gpteToGfn', 'isPresentGpte', 'isRsvdGpte', 'prefetchInvalidGpte',
  'protectCleanGpte', 'readGpte',
  // src/shadow/guest-mmu-npt.ts
  'NestedNptMmu', 'NestedNptMmu.access', 'NestedNptMmu.enter', 'NestedNptMmu.exit',
  // src/shadow/guest-mmu.ts
  'NestedEptMmu', 'NestedEptMmu.access', 'NestedEptMmu.enter', 'NestedEptMmu.exit', 'NestedEptMmu.invept',
  // src/shadow/rmap.ts
  'Rmap.add', 'Rmap.get', 'Rmap.remove',
  // src/shadow/roots.ts
  'freeAllRoots', 'freeObsoleteRoots', 'freeRoots', 'invalidatePcid', 'mmuLoad', 'newPgd', 'pcidOf', 'syncPrevRoots',
  'syncRoots',
  // src/shadow/shadow-context.ts
  'ShadowContext', 'ShadowContext.configure', 'ShadowContext.hwInputs',
  // src/shadow/shadow-fault.ts
  'directPageFault', 'hugepageAdjust', 'mmuSetSpte', 'shadowPageFault', 'shadowWalkRefs',
  // src/shadow/shadow-invariants.ts
  'checkShadowInvariants',
  // src/shadow/shadow-mmu.ts
  'ShadowMmu', 'ShadowMmu.accountNxHugePage', 'ShadowMmu.ageRange', 'ShadowMmu.childOf', 'ShadowMmu.childRole',
  'ShadowMmu.commitZap', 'ShadowMmu.find', 'ShadowMmu.getChildSp', 'ShadowMmu.getShadowPage',
  'ShadowMmu.isNonpresentValue', 'ShadowMmu.isObsolete', 'ShadowMmu.isWriteTracked', 'ShadowMmu.linkShadowPage',
  'ShadowMmu.lpageDisallowed', 'ShadowMmu.makeMmuPagesAvailable', 'ShadowMmu.markDirtyIfWritable',
  'ShadowMmu.pageAt', 'ShadowMmu.prepareZap', 'ShadowMmu.putRoot', 'ShadowMmu.readSpte', 'ShadowMmu.setSpte',
  'ShadowMmu.tlbFlush', 'ShadowMmu.unprotectGfn', 'ShadowMmu.validSpsWithGptes', 'ShadowMmu.writeProtectGfn',
  'ShadowMmu.writeSpecialRoot', 'ShadowMmu.writeTrackCount', 'ShadowMmu.wrprotRange', 'ShadowMmu.zapAll',
  'ShadowMmu.zapAllFast', 'ShadowMmu.zapCollapsibleSptes', 'ShadowMmu.zapGfnRange', 'ShadowMmu.zapOldest',
  'ShadowMmu.zapPage', 'ShadowMmu.zapPte', 'ShadowMmu.zapSlot', 'mmuPageHash',
  // src/shadow/shadow-page.ts
  'ShadowPage', 'ShadowPage.accessOf', 'ShadowPage.gfnOf', 'ShadowPage.setTranslation',
  // src/shadow/shadow-vcpu.ts
  'ShadowVcpu', 'ShadowVcpu.access', 'ShadowVcpu.afterSetRegisters', 'ShadowVcpu.invlpg', 'ShadowVcpu.leafFor',
  'ShadowVcpu.loadCr3Nested', 'ShadowVcpu.pageFault', 'hostPfnToGfn', 'rootMmuSetup', 'shadowHardwareFormat',
  // src/shadow/sync.ts
  'invalidateAddrInRoot', 'mmuSyncChildren', 'shadowPath', 'spteChangeNeedsFlush', 'syncPage', 'syncSpte',
  // src/shadow/track-write.ts
  'detectWriteFlooding', 'detectWriteMisaligned', 'getWrittenSptes', 'kvmMmuTrackWrite',
  // src/shadow/unsync.ts
  'clearParents', 'clearUnsyncChildBit', 'kvmUnsyncPage', 'markUnsync', 'mmuTryToUnsyncPages', 'unlinkUnsync',
  'unsyncWalk',
  // src/sweep/sweep-jobs.ts
  'checkTraces', 'expandJobs',
  // src/sweep/sweep-row.ts
  'runJob',
  // src/sweep/sweep.ts
  'sweep',
  // src/tdp/page-fault.ts
  'newPageFault',
  // src/tdp/possible-nx-huge-pages.ts
  'PossibleNxHugePages', 'PossibleNxHugePages.has', 'PossibleNxHugePages.track', 'PossibleNxHugePages.unaccount',
  'PossibleNxHugePages.untrack',
  // src/tdp/root-types.ts
  'filterToRootTypes', 'rootMatch', 'rootTypesText',
  // src/tdp/tdp-mmu.ts
  'TdpMmu', 'TdpMmu.ageRange', 'TdpMmu.checkInvariants', 'TdpMmu.childOf', 'TdpMmu.clearDirtyPtMasked',
  'TdpMmu.clearDirtySlot', 'TdpMmu.fastPageFault', 'TdpMmu.forEachEntry', 'TdpMmu.getRoot', 'TdpMmu.gfnBitsOf',
  'TdpMmu.hugepageAdjust', 'TdpMmu.invalidateAllRoots', 'TdpMmu.lastSpte', 'TdpMmu.leaves', 'TdpMmu.map',
  'TdpMmu.maxMappingLevel', 'TdpMmu.putRoot', 'TdpMmu.readSpte', 'TdpMmu.recoverHugePages', 'TdpMmu.rootsOf',
  'TdpMmu.setSpte', 'TdpMmu.splitRange', 'TdpMmu.testAge', 'TdpMmu.tlbFlush', 'TdpMmu.writeProtectGfn',
  'TdpMmu.wrprotHugeRange', 'TdpMmu.wrprotRange', 'TdpMmu.zapLeafs', 'TdpMmu.zapRoots', 'TdpMmu.zapSp',
  // src/tdp/tdp-page.ts
  'TdpPage', 'pagesPerEntry', 'spteIndex',
  // src/tdx/memory-attributes.ts
  'MemoryAttributes.isPrivate', 'MemoryAttributes.set', 'MemoryAttributes.uniformLevel',
  // src/tdx/private-fault.ts
  'faultinPrivate', 'memoryFault',
  // src/tdx/sept.ts
  'Sept', 'Sept.accept', 'Sept.corruptForTest', 'Sept.freeExternalSpt', 'Sept.isPending', 'Sept.isPremapped',
  'Sept.linkExternalSpt', 'Sept.lookup', 'Sept.pageAdd', 'Sept.removeExternalSpte', 'Sept.setExternalSpte',
  // src/tdx/set-memory-attributes.ts
  'applyAttributeChange', 'checkAttributeRange',
  // src/tdx/td-accept.ts
  'pendingPageAccess', 'tdgMemPageAccept',
  // src/tdx/td.ts
  'Td', 'Td.setMemoryAttributes',
  // src/tdx/tdx-invariants.ts
  'checkTdxInvariants',
  // src/tdx/tdx-page-fault.ts
  'tdxPageFault',
  // src/tlb/set-assoc.ts
  'SetAssoc.find', 'SetAssoc.findWith', 'SetAssoc.insert', 'SetAssoc.invalidate',
  // src/vm/dirty-ring.ts
  'DirtyRing', 'DirtyRing.entry', 'DirtyRing.markCollected', 'DirtyRing.push', 'DirtyRing.reset',
  'dirtyRingEntryCheck',
  // src/vm/exit.ts
  'ept73Exit', 'eptViolationErrorCode', 'eptViolationErrorCode73', 'hardwareEptExit', 'hardwareNpfExit',
  // src/vm/host-memory.ts
  'HostMemory', 'HostMemory.allocRam', 'HostMemory.allocRamBackings', 'HostMemory.freeTable',
  'HostMemory.isTableFrame', 'HostMemory.releaseRam',
  // src/vm/memslot.ts
  'lpageIndex', 'makeLpageInfo', 'maxMappingLevel', 'memslotPfn', 'memslotPrivatePfn',
  // src/vm/recover-nx-huge-pages.ts
  'recoverNxHugePages',
  // src/vm/register-write.ts
  'registerWriteEffects',
  // src/workload/trace-result.ts
  'buildResult',
];
