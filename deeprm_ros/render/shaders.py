"""GLSL for textured / vertex-coloured meshes: Lambert + ambient light, metric depth and instance ids.

Own shaders (no scene-graph renderer) so that the projection is exactly OpenCV's and depth is the
camera-frame z written to a float attachment (no depth-buffer linearisation, no MSAA blur at edges).
"""

VERTEX = """
#version 330
uniform mat4 model_view;   // T_cam_obj (OpenCV camera frame, metres)
uniform mat4 projection;   // built from K, see renderer.opencv_projection
in vec3 in_position;
in vec3 in_normal;
in vec2 in_uv;
in vec3 in_color;
out vec3 v_normal;
out vec2 v_uv;
out vec3 v_color;
out float v_depth;
void main() {
    vec4 cam = model_view * vec4(in_position, 1.0);
    v_normal = mat3(model_view) * in_normal;   // rigid transform: no inverse-transpose needed
    v_uv = in_uv;
    v_color = in_color;
    v_depth = cam.z;
    gl_Position = projection * cam;
}
"""

FRAGMENT = """
#version 330
uniform sampler2D tex;
uniform bool use_texture;
uniform vec3 light_dir;     // direction the light travels, camera frame (0,0,1): from the camera
uniform vec3 light_color;
uniform float ambient;
uniform float gain;         // per-object brightness (average metering), 1 for scenes
uniform float instance_id;  // index + 1 (0 = background)
in vec3 v_normal;
in vec2 v_uv;
in vec3 v_color;
in float v_depth;
layout(location = 0) out vec4 out_color;
layout(location = 1) out float out_depth;
layout(location = 2) out float out_instance;
void main() {
    vec3 albedo = use_texture ? texture(tex, v_uv).rgb : v_color;
    vec3 n = normalize(v_normal);
    float diffuse = abs(dot(n, -light_dir));   // two-sided: meshes with flipped normals still light up
    vec3 c = albedo * (ambient + (1.0 - ambient) * diffuse * light_color) * gain;
    out_color = vec4(clamp(c, 0.0, 1.0), 1.0);
    out_depth = v_depth;
    out_instance = instance_id;
}
"""
