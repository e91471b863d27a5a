/**
 * The part of ONNX's `onnx.proto` (onnx/onnx, `onnx/onnx.proto`, IR version 8 / opset 17) that a
 * model file needs, as a protobufjs JSON descriptor: message and field names, numbers and types are
 * ONNX's own; messages and fields the export never writes are left out (protobuf readers skip
 * nothing then: every field here has ONNX's number, so the bytes are a valid ModelProto). TensorProto
 * carries `external_data` (13) and `data_location` (14) for weights written to a separate file.
 *
 * Derived from onnx.proto, Copyright (c) ONNX Project Contributors, licensed under the Apache
 * License, Version 2.0 (http://www.apache.org/licenses/LICENSE-2.0). SPDX-License-Identifier: Apache-2.0.
 */
import protobuf from 'protobufjs';

/** `TensorProto.DataType` values the export uses. */
export const DataType = { FLOAT: 1, INT64: 7 } as const;
export type DataTypeId = (typeof DataType)[keyof typeof DataType];

/**
 * `TensorProto.DataLocation`: EXTERNAL means the tensor's bytes are in another file, described by
 * its `external_data` entries `location` (a path relative to the model file's folder), `offset` and
 * `length` (decimal strings; onnx.proto: offsets SHOULD be multiples of 4096 so readers can mmap).
 */
export const DataLocation = { DEFAULT: 0, EXTERNAL: 1 } as const;

/** `AttributeProto.AttributeType` values the export uses. */
export const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, TENSOR: 4, FLOATS: 6, INTS: 7 } as const;

/** IR version 8 is the one that goes with opset 17 (onnx/onnx docs/Versioning.md). */
export const IR_VERSION = 8;
export const OPSET = 17;

const descriptor = {
  nested: {
    onnx: {
      nested: {
        AttributeProto: {
          fields: {
            name: { type: 'string', id: 1 },
            refAttrName: { type: 'string', id: 21 },
            docString: { type: 'string', id: 13 },
            type: { type: 'int32', id: 20 },
            f: { type: 'float', id: 2 },
            i: { type: 'int64', id: 3 },
            s: { type: 'bytes', id: 4 },
            t: { type: 'TensorProto', id: 5 },
            floats: { rule: 'repeated', type: 'float', id: 7 },
            ints: { rule: 'repeated', type: 'int64', id: 8 },
            strings: { rule: 'repeated', type: 'bytes', id: 9 },
          },
        },
        ValueInfoProto: {
          fields: {
            name: { type: 'string', id: 1 },
            type: { type: 'TypeProto', id: 2 },
            docString: { type: 'string', id: 3 },
          },
        },
        NodeProto: {
          fields: {
            input: { rule: 'repeated', type: 'string', id: 1 },
            output: { rule: 'repeated', type: 'string', id: 2 },
            name: { type: 'string', id: 3 },
            opType: { type: 'string', id: 4 },
            domain: { type: 'string', id: 7 },
            attribute: { rule: 'repeated', type: 'AttributeProto', id: 5 },
            docString: { type: 'string', id: 6 },
          },
        },
        ModelProto: {
          fields: {
            irVersion: { type: 'int64', id: 1 },
            opsetImport: { rule: 'repeated', type: 'OperatorSetIdProto', id: 8 },
            producerName: { type: 'string', id: 2 },
            producerVersion: { type: 'string', id: 3 },
            domain: { type: 'string', id: 4 },
            modelVersion: { type: 'int64', id: 5 },
            docString: { type: 'string', id: 6 },
            graph: { type: 'GraphProto', id: 7 },
            metadataProps: { rule: 'repeated', type: 'StringStringEntryProto', id: 14 },
          },
        },
        StringStringEntryProto: {
          fields: {
            key: { type: 'string', id: 1 },
            value: { type: 'string', id: 2 },
          },
        },
        GraphProto: {
          fields: {
            node: { rule: 'repeated', type: 'NodeProto', id: 1 },
            name: { type: 'string', id: 2 },
            initializer: { rule: 'repeated', type: 'TensorProto', id: 5 },
            docString: { type: 'string', id: 10 },
            input: { rule: 'repeated', type: 'ValueInfoProto', id: 11 },
            output: { rule: 'repeated', type: 'ValueInfoProto', id: 12 },
            valueInfo: { rule: 'repeated', type: 'ValueInfoProto', id: 13 },
          },
        },
        TensorProto: {
          fields: {
            dims: { rule: 'repeated', type: 'int64', id: 1 },
            dataType: { type: 'int32', id: 2 },
            floatData: { rule: 'repeated', type: 'float', id: 4, options: { packed: true } },
            int32Data: { rule: 'repeated', type: 'int32', id: 5, options: { packed: true } },
            int64Data: { rule: 'repeated', type: 'int64', id: 7, options: { packed: true } },
            name: { type: 'string', id: 8 },
            docString: { type: 'string', id: 12 },
            rawData: { type: 'bytes', id: 9 },
            externalData: { rule: 'repeated', type: 'StringStringEntryProto', id: 13 },
            dataLocation: { type: 'DataLocation', id: 14 },
          },
          nested: {
            DataLocation: { values: { DEFAULT: 0, EXTERNAL: 1 } },
          },
        },
        TensorShapeProto: {
          fields: {
            dim: { rule: 'repeated', type: 'Dimension', id: 1 },
          },
          nested: {
            Dimension: {
              oneofs: { value: { oneof: ['dimValue', 'dimParam'] } },
              fields: {
                dimValue: { type: 'int64', id: 1 },
                dimParam: { type: 'string', id: 2 },
                denotation: { type: 'string', id: 3 },
              },
            },
          },
        },
        TypeProto: {
          oneofs: { value: { oneof: ['tensorType'] } },
          fields: {
            tensorType: { type: 'Tensor', id: 1 },
            denotation: { type: 'string', id: 6 },
          },
          nested: {
            Tensor: {
              fields: {
                elemType: { type: 'int32', id: 1 },
                shape: { type: 'TensorShapeProto', id: 2 },
              },
            },
          },
        },
        OperatorSetIdProto: {
          fields: {
            domain: { type: 'string', id: 1 },
            version: { type: 'int64', id: 2 },
          },
        },
      },
    },
  },
};

let root: protobuf.Root | undefined;

/** ONNX's `ModelProto` message type (the schema is built once). */
export function modelProto(): protobuf.Type {
  root ??= protobuf.Root.fromJSON(descriptor);
  return root.lookupType('onnx.ModelProto');
}

// Plain shapes of the messages, as protobufjs takes them (camelCase field names).
export interface TensorMsg {
  readonly name?: string;
  readonly dims: readonly number[];
  readonly dataType: DataTypeId;
  readonly rawData?: Uint8Array;
  readonly dataLocation?: (typeof DataLocation)[keyof typeof DataLocation];
  readonly externalData?: readonly { readonly key: string; readonly value: string }[];
}
export interface AttributeMsg {
  readonly name: string;
  readonly type: number;
  readonly f?: number;
  readonly i?: number;
  readonly s?: Uint8Array;
  readonly t?: TensorMsg;
  readonly floats?: readonly number[];
  readonly ints?: readonly number[];
}
export interface NodeMsg {
  readonly input: readonly string[];
  readonly output: readonly string[];
  readonly name: string;
  readonly opType: string;
  readonly attribute: readonly AttributeMsg[];
}
export interface DimMsg {
  readonly dimValue?: number;
  readonly dimParam?: string;
}
export interface ValueInfoMsg {
  readonly name: string;
  readonly type: { readonly tensorType: { readonly elemType: DataTypeId; readonly shape: { readonly dim: readonly DimMsg[] } } };
}
export interface GraphMsg {
  readonly name: string;
  readonly docString?: string;
  readonly node: readonly NodeMsg[];
  readonly initializer: readonly TensorMsg[];
  readonly input: readonly ValueInfoMsg[];
  readonly output: readonly ValueInfoMsg[];
}
export interface ModelMsg {
  readonly irVersion: number;
  readonly opsetImport: readonly { readonly domain: string; readonly version: number }[];
  readonly producerName: string;
  readonly producerVersion: string;
  readonly docString?: string;
  readonly graph: GraphMsg;
}

/** The model's bytes, checked against the schema first. */
export function encodeModel(model: ModelMsg): Uint8Array {
  const T = modelProto();
  const problem = T.verify(model);
  if (problem) throw new Error(`onnx export: the model does not fit onnx.proto: ${problem}`);
  return T.encode(T.fromObject(model)).finish();
}

/** Reads a model back (the export's own check and the tests). */
export function decodeModel(bytes: Uint8Array): Record<string, unknown> {
  const T = modelProto();
  return T.toObject(T.decode(bytes), { longs: Number, bytes: Array, defaults: false }) as Record<string, unknown>;
}
