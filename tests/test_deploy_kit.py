"""export/: the TF Serving deployment kit parses as TF Serving reads it and its paths agree."""
import pathlib

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, text_format
from google.protobuf import wrappers_pb2

yaml = pytest.importorskip("yaml", reason="PyYAML is in the [test] extra")
model_server_config_pb2 = pytest.importorskip(
    "tensorflow_serving.config.model_server_config_pb2",
    reason="tensorflow-serving-api is in the [test] extra")

KIT = pathlib.Path(__file__).resolve().parents[1] / "export"


def _batching_parameters_class():
    """TF Serving's BatchingParameters (session_bundle_config.proto; not shipped in the pip
    package): the fields and wrapper types of the TF Serving source, built at run time."""
    proto = descriptor_pb2.FileDescriptorProto(
        name="salgan_test_batching.proto", package="salgan_test",
        dependency=["google/protobuf/wrappers.proto"])
    message = proto.message_type.add(name="BatchingParameters")
    wrapped = [("max_batch_size", 1, "Int64Value"), ("batch_timeout_micros", 2, "Int64Value"),
               ("thread_pool_name", 3, "StringValue"), ("num_batch_threads", 4, "Int64Value"),
               ("max_enqueued_batches", 5, "Int64Value")]
    for name, number, wrapper in wrapped:
        message.field.add(name=name, number=number, type_name=f".google.protobuf.{wrapper}",
                          type=descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
                          label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    message.field.add(name="allowed_batch_sizes", number=6,
                      type=descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
                      label=descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED)
    message.field.add(name="pad_variable_length_inputs", number=7,
                      type=descriptor_pb2.FieldDescriptorProto.TYPE_BOOL,
                      label=descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
    pool.Add(proto)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName("salgan_test.BatchingParameters"))


def _compose_service():
    (service,) = yaml.safe_load((KIT / "compose.yaml").read_text())["services"].values()
    return service


def _flag(command, name):
    (value,) = [arg.split("=", 1)[1] for arg in command if arg.startswith(f"--{name}=")]
    return value


def test_models_config_is_a_model_server_config_naming_the_served_model():
    config = text_format.Parse((KIT / "models.config").read_text(),
                               model_server_config_pb2.ModelServerConfig())
    (model,) = config.model_config_list.config
    # The name clients use in /v1/models/<name>:predict, as the local demo server's default.
    from salgan_tf import serve_app
    assert model.name == serve_app.ServeConfig().model_name
    assert model.model_platform == "tensorflow"
    assert model.model_version_policy.latest.num_versions == 1


def test_batching_parameters_parse_with_sane_limits():
    params = text_format.Parse((KIT / "batching_parameters.txt").read_text(),
                               _batching_parameters_class()())
    assert params.max_batch_size.value >= 1
    assert params.num_batch_threads.value >= 1
    assert 0 < params.batch_timeout_micros.value <= 100_000  # a lone request waits <= 0.1 s
    assert params.max_enqueued_batches.value >= 1


def test_compose_mounts_what_the_server_flags_read():
    service = _compose_service()
    mounts = {}
    for volume in service["volumes"]:
        host, container, _ = volume.split(":")
        mounts[container] = (KIT / host).resolve()
    command = service["command"]
    assert _flag(command, "enable_batching") == "true"
    for flag in ("model_config_file", "batching_parameters_file"):
        container_path = _flag(command, flag)
        assert container_path in mounts, f"--{flag}={container_path} is not mounted"
        assert mounts[container_path].is_file(), mounts[container_path]
    # The model config's base_path is the mount of the exporter's output folder models/salgan/
    # (relative to the repository root, where the README's export command writes it).
    config = text_format.Parse((KIT / "models.config").read_text(),
                               model_server_config_pb2.ModelServerConfig())
    base_path = config.model_config_list.config[0].base_path
    assert base_path in mounts
    assert mounts[base_path] == KIT.parent / "models" / "salgan"
    assert {"8500:8500", "8501:8501"} <= set(service["ports"])


def test_grpc_request_of_the_guide_names_the_exported_signature():
    """The gRPC client of export/README.md asks for inputs and outputs the signature has."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    from salgan_tf import generator as generator_lib
    from salgan_tf.export import saved_model

    module = saved_model.SalganServingModule(generator_lib.build_generator((32, 48)))
    signature = module.signatures()[saved_model.SERVING_SIGNATURE]
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "salgan"
    request.model_spec.signature_name = saved_model.SERVING_SIGNATURE
    request.inputs["images"].CopyFrom(tf.make_tensor_proto([b"\xff\xd8"], dtype=tf.string))
    request.output_filter.extend(["saliency", "height", "width"])
    input_names = {spec.name for spec in signature.structured_input_signature[0]}
    assert set(request.inputs) == input_names
    assert set(request.output_filter) <= set(signature.structured_outputs)
