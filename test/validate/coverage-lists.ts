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
  // src/shadow (the shadow MMU's own loops call these; the public names check, check-shadow-args.ts)
  'ShadowMmu.readSpteUnchecked': UNCHECKED_TWIN,
  'ShadowMmu.isNonpresentValueUnchecked': UNCHECKED_TWIN,
  'ShadowMmu.writeSpecialRootUnchecked': UNCHECKED_TWIN,
  'ShadowMmu.childOfUnchecked': UNCHECKED_TWIN,
  'ShadowMmu.pageAtUnchecked': UNCHECKED_TWIN,
  'ShadowMmu.isObsoleteUnchecked': UNCHECKED_TWIN,
  'ShadowMmu.isWriteTrackedUnchecked': UNCHECKED_TWIN,
  'ShadowMmu.writeTrackCountUnchecked': UNCHECKED_TWIN,
  'ShadowMmu.validSpsWithGptesUnchecked': UNCHECKED_TWIN,
  'ShadowMmu.setSpteUnchecked': UNCHECKED_TWIN,
  'ShadowMmu.lpageDisallowedUnchecked': UNCHECKED_TWIN,
  'ShadowMmu.markDirtyIfWritableUnchecked': UNCHECKED_TWIN,
  'ShadowMmu.tlbFlushUnchecked': UNCHECKED_TWIN,
  'ShadowMmu.getShadowPageUnchecked': UNCHECKED_TWIN,
  'ShadowMmu.getChildSpUnchecked': UNCHECKED_TWIN,
  'ShadowMmu.linkShadowPageUnchecked': UNCHECKED_TWIN,
  'ShadowMmu.accountNxHugePageUnchecked': UNCHECKED_TWIN,
  'ShadowMmu.writeProtectGfnUnchecked': UNCHECKED_TWIN,
  'ShadowMmu.prepareZapUnchecked': UNCHECKED_TWIN,
  'ShadowMmu.zapPteUnchecked': UNCHECKED_TWIN,
  'ShadowMmu.commitZapUnchecked': UNCHECKED_TWIN,
  'ShadowMmu.putRootUnchecked': UNCHECKED_TWIN,
  'ShadowMmu.makeMmuPagesAvailableUnchecked': UNCHECKED_TWIN,
  'ShadowPage.gfnOfUnchecked': UNCHECKED_TWIN,
  'ShadowPage.accessOfUnchecked': UNCHECKED_TWIN,
  'ShadowPage.setTranslationUnchecked': UNCHECKED_TWIN,
  'Rmap.addUnchecked': UNCHECKED_TWIN,
  'Rmap.getUnchecked': UNCHECKED_TWIN,
  'Rmap.removeUnchecked': UNCHECKED_TWIN,
  readGpteUnchecked: UNCHECKED_TWIN,
  isPresentGpteUnchecked: UNCHECKED_TWIN,
  gpteAccessUnchecked: UNCHECKED_TWIN,
  gpteToGfnUnchecked: UNCHECKED_TWIN,
  isRsvdGpteUnchecked: UNCHECKED_TWIN,
  prefetchInvalidGpteUnchecked: UNCHECKED_TWIN,
  protectCleanGpteUnchecked: UNCHECKED_TWIN,
  rootMmuSetupUnchecked: UNCHECKED_TWIN,
  hostPfnToGfnUnchecked: UNCHECKED_TWIN,
  'ShadowContext.configureUnchecked': UNCHECKED_TWIN,
  'ShadowContext.hwInputsUnchecked': UNCHECKED_TWIN,
  'ShadowVcpu.pageFaultUnchecked': UNCHECKED_TWIN,
  freeRootsUnchecked: UNCHECKED_TWIN,
  freeAllRootsUnchecked: UNCHECKED_TWIN,
  mmuLoadUnchecked: UNCHECKED_TWIN,
  syncRootsUnchecked: UNCHECKED_TWIN,
  syncPrevRootsUnchecked: UNCHECKED_TWIN,
  newPgdUnchecked: UNCHECKED_TWIN,
  freeObsoleteRootsUnchecked: UNCHECKED_TWIN,
  pcidOfUnchecked: UNCHECKED_TWIN,
  invalidatePcidUnchecked: UNCHECKED_TWIN,
  spteChangeNeedsFlushUnchecked: UNCHECKED_TWIN,
  syncSpteUnchecked: UNCHECKED_TWIN,
  syncPageUnchecked: UNCHECKED_TWIN,
  mmuSyncChildrenUnchecked: UNCHECKED_TWIN,
  shadowPathUnchecked: UNCHECKED_TWIN,
  invalidateAddrInRootUnchecked: UNCHECKED_TWIN,
  mmuTryToUnsyncPagesUnchecked: UNCHECKED_TWIN,
  kvmUnsyncPageUnchecked: UNCHECKED_TWIN,
  markUnsyncUnchecked: UNCHECKED_TWIN,
  unlinkUnsyncUnchecked: UNCHECKED_TWIN,
  clearUnsyncChildBitUnchecked: UNCHECKED_TWIN,
  unsyncWalkUnchecked: UNCHECKED_TWIN,
  clearParentsUnchecked: UNCHECKED_TWIN,
  detectWriteMisalignedUnchecked: UNCHECKED_TWIN,
  detectWriteFloodingUnchecked: UNCHECKED_TWIN,
  getWrittenSptesUnchecked: UNCHECKED_TWIN,
  kvmMmuTrackWriteUnchecked: UNCHECKED_TWIN,
  hugepageAdjustUnchecked: UNCHECKED_TWIN,
  mmuSetSpteUnchecked: UNCHECKED_TWIN,
  shadowPageFaultUnchecked: UNCHECKED_TWIN,
  shadowWalkRefsUnchecked: UNCHECKED_TWIN,
  directPageFaultUnchecked: UNCHECKED_TWIN,
  checkShadowInvariantsUnchecked: UNCHECKED_TWIN,
  'TdpMmu.mapUnchecked': UNCHECKED_TWIN,
  'TdpMmu.fastPageFaultUnchecked': UNCHECKED_TWIN,
  'TdpMmu.lastSpteUnchecked': UNCHECKED_TWIN,
  pagesPerEntryUnchecked: UNCHECKED_TWIN,
  spteIndexUnchecked: UNCHECKED_TWIN,
  'SetAssoc.findUnchecked': UNCHECKED_TWIN,
  'SetAssoc.findWithUnchecked': UNCHECKED_TWIN,
  'SetAssoc.insertUnchecked': UNCHECKED_TWIN,
  'GuestMemory.slotOfUnchecked': UNCHECKED_TWIN,
};

export const PENDING: string[] = [
  // src/address/canonical.ts
  'assertCanonical', 'canonicalize', 'isCanonical',
  // src/builder/entry-flags.ts
  'leafFlagBits',
  // src/builder/page-table-builder.ts
  'PageTableBuilder.entryAddress',
  // src/builder/table-mode.ts
  'leafLevelOf', 'levelSpan',
  // src/claim/claim.ts
  'Claim', 'claim', 'claimValuesText',
  // src/cpu/check-registers.ts
  'checkCpuFeatures', 'checkRegisterTypes',
  // src/cpu/paging-modes.ts
  'la57Mode', 'longMode', 'paeMode', 'paging32Mode', 'pagingOff',
  // src/display/charts.ts
  'permissionsChart', 'reservedBitsChart', 'walkTraceChart',
  // src/display/cost-view.ts
  'costModelBundle', 'tlbConfigBundle',
  // src/display/format-view.ts
  'accessIndexName', 'formatBundle',
  // src/display/html.ts
  'esc', 'hex64', 'table', 'textTable',
  // src/display/nested-view.ts
  'nestedRecordBundle', 'ngpaVerdict', 'ngpaWalkBundle', 'ngpaWalkerBundle', 'walk2dBundle', 'walk2dChart',
  'walk2dVerdict', 'walk2dWalkerBundle',
  // src/display/prose.ts
  'Prose', 'md', 'proseValue',
  // src/display/rich.ts
  'richBundle',
  // src/display/role-view.ts
  'cpuRoleBundle', 'pageRoleBundle',
  // src/display/tdx-view.ts
  'tdxSeptBundle',
  // src/display/walk-view.ts
  'verdict', 'walkBundle',
  // src/errors.ts
  'hex',
  // src/events/event-log.ts
  'EventLog.record',
  // src/events/stats.ts
  'Counters', 'Counters.get', 'Counters.inc', 'Counters.max', 'Counters.add', 'Counters.at', 'counterSlot',
  // src/events/tables.ts
  'countersTable', 'eventsTable',
  // src/format/acc.ts
  'acc616To73', 'accEncoding', 'decodeAcc', 'decodeErrorCode',
  // src/format/ept.ts
  'eptFormat',
  // src/format/format-for-role.ts
  'formatForCpuRole',
  // src/format/npt.ts
  'nptFormat',
  // src/format/pae.ts
  'paeFormat',
  // src/format/page-format.ts
  'makePageFormat', 'memoize',
  // src/format/paging32.ts
  'paging32Format',
  // src/format/paging4.ts
  'paging4Format',
  // src/format/paging5.ts
  'paging5Format',
  // src/format/permission-bitmask.ts
  'updatePermissionBitmask', 'updatePkruBitmask',
  // src/format/rsvd-bits-mask.ts
  'resetRsvdsBitsMask', 'resetRsvdsBitsMaskEpt',
  // src/fuzz/fuzz-config.ts
  'fuzzConfig',
  // src/fuzz/fuzz-run.ts
  'FuzzRun', 'FuzzRun.step', 'runFuzz',
  // src/role/calc-cpu-role.ts
  'validatePagingRegisters',
  // src/role/cpu-role.ts
  'CpuRole', 'CpuRole.equals', 'CpuRole::fromU64', 'CpuRole::of', 'extRoleBits', 'extRoleKvmName',
  // src/role/page-role.ts
  'PageRole', 'PageRole.equals', 'PageRole.with', 'PageRole::fromWord', 'PageRole::pack', 'pageRoleKvmName',
  'pageRoleLayout',
  // src/sweep/sweep-jobs.ts
  'checkTraces', 'expandJobs',
  // src/sweep/sweep-row.ts
  'runJob',
  // src/sweep/sweep.ts
  'sweep',
  // src/walker/access.ts
  'describeAccess', 'encodeAccess',
  // src/walker/gva-walker.ts
  'GvaWalker.checkAddress', 'GvaWalker.recordLast', 'GvaWalker.translate',
  // src/walker/walk-outcome.ts
  'walkOutcome',
  // src/workload/trace-result.ts
  'buildResult',
];
