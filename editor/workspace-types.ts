import type { Graph } from '../graph/model'; export interface VariantView { readonly id: string; readonly name: string; readonly graph: Graph; readonly metricsText?: string }
